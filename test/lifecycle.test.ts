/**
 * DisposerStack: newest first, each disposer once, every one even when others throw or reject, stages closing in
 * the place they were declared, and a piece registered after disposal closed at once.
 */
import { DisposerStack } from "../src/lifecycle";

describe("DisposerStack", () => {
  it("disposes newest first, each once, even when disposed twice", async () => {
    const ran: string[] = [];
    const stack = new DisposerStack();
    for (const n of ["grpc", "usage", "scraper"]) stack.defer(n, () => void ran.push(n));
    await Promise.all([stack.dispose(() => undefined), stack.dispose(() => undefined)]);
    await stack.dispose(() => undefined);
    expect(ran).toEqual(["scraper", "usage", "grpc"]);
  });

  it("runs every disposer when some throw or reject, reporting each failure by name", async () => {
    const ran: string[] = [];
    const failed: [string, string][] = [];
    const stack = new DisposerStack();
    stack.defer("a", () => void ran.push("a"));
    stack.defer("b", () => Promise.reject(new Error(`async after ${ran.push("b")}`)));
    stack.defer("c", () => {
      ran.push("c");
      throw new Error("sync");
    });
    await expect(
      stack.dispose((name, e) => failed.push([name, (e as Error).message])),
    ).resolves.toBeUndefined();
    expect(ran).toEqual(["c", "b", "a"]);
    expect(failed).toEqual([
      ["c", "sync"],
      ["b", "async after 2"],
    ]);
  });

  it("closes stages where they were declared, whatever order their pieces started in", async () => {
    const ran: string[] = [];
    const root = new DisposerStack();
    const last = root.stage();
    const first = root.stage();
    last.defer("admin", () => void ran.push("admin"));
    first.defer("usage", () => void ran.push("usage"));
    first.defer("scraper", () => void ran.push("scraper"));
    expect(root.closers().map((c) => c.name)).toEqual(["scraper", "usage", "admin"]);
    await root.dispose(() => undefined);
    expect(ran).toEqual(["scraper", "usage", "admin"]);
    // Disposing a stage of a disposed stack runs nothing again.
    await first.dispose(() => undefined);
    expect(ran).toEqual(["scraper", "usage", "admin"]);
  });

  it("closes a piece registered after disposal at once (a late start racing a stop)", async () => {
    const ran: string[] = [];
    const root = new DisposerStack();
    const stage = root.stage();
    await root.dispose(() => undefined);
    stage.defer("late", () => void ran.push("late"));
    root.defer("later", () => {
      ran.push("later");
      throw new Error("ignored");
    });
    expect(ran).toEqual(["late", "later"]);
  });
});
