/**
 * closeEach: every close runs whatever the others do, failures are reported one by one.
 */
import { closeEach } from "../src/closing";

describe("closeEach", () => {
  it("runs every close in order even when some throw or reject, reporting each failure", async () => {
    const ran: string[] = [];
    const failed: [string, string][] = [];
    await closeEach(
      [
        { name: "a", close: () => void ran.push("a") },
        {
          name: "b",
          close: () => {
            ran.push("b");
            throw new Error("sync");
          },
        },
        { name: "c", close: async () => Promise.reject(new Error(`async after ${ran.push("c")}`)) },
        { name: "d", close: async () => void ran.push("d") },
      ],
      (name, e) => failed.push([name, (e as Error).message]),
    );
    expect(ran).toEqual(["a", "b", "c", "d"]);
    expect(failed).toEqual([
      ["b", "sync"],
      ["c", "async after 3"],
    ]);
  });

  it("still resolves when the failure reporter throws", async () => {
    const ran: string[] = [];
    await expect(
      closeEach(
        [
          { name: "a", close: () => Promise.reject(new Error("x")) },
          { name: "b", close: () => void ran.push("b") },
        ],
        () => {
          throw new Error("reporter");
        },
      ),
    ).resolves.toBeUndefined();
    expect(ran).toEqual(["b"]);
  });
});
