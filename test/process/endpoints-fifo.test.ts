/**
 * Two things that could keep the real process from exiting on SIGTERM, in one process (each start costs most of a
 * CPU-second): a FIFO swapped in for its endpoints file, which nobody ever writes to, and a log nobody reads any
 * more. A reader that opened the FIFO would block a libuv thread for ever, and Node's exit waits for that thread:
 * SIGTERM would drain and then hang. kvroute must refuse the FIFO without opening it and keep serving. Then the
 * reader of its stdout goes away, so the drain's log lines fail with EPIPE: kvroute must still exit 0.
 */
import { execFileSync, spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { copyFile, mkdtemp, rename, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";
import { compiled } from "../support/compiled-build";

// A real process (the compiled build): allow for a loaded CI machine.
jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, "../..");

let child: ChildProcessWithoutNullStreams | undefined;
let dir: string | undefined;
afterAll(async () => {
  // A failed test must not leave a kvroute behind.
  if (child && child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  if (dir) await rm(dir, { recursive: true, force: true });
});

/** Resolves with the first JSON log line for which `match` is true. */
async function logLine(
  lines: AsyncIterable<string>,
  match: (rec: Record<string, unknown>) => boolean,
): Promise<Record<string, unknown>> {
  for await (const line of lines) {
    const rec = JSON.parse(line) as Record<string, unknown>;
    if (match(rec)) return rec;
  }
  throw new Error("log ended before the expected line");
}

it("refuses a FIFO at the endpoints path, keeps serving, and exits 0 on SIGTERM with nobody reading its log", async () => {
  dir = await mkdtemp(path.join(tmpdir(), "kvroute-fifo-"));
  const endpoints = path.join(dir, "endpoints.yaml");
  await copyFile(path.join(ROOT, "examples", "endpoints.yaml"), endpoints);
  const proc = spawn(
    process.execPath,
    [
      ...compiled("src/cli.ts"),
      ...["--standalone", "--endpoints-config", endpoints],
      // The drain delay is proven in drain-rollout.test.ts; here it would only lengthen the SIGTERM.
      ...["--drain-delay-ms", "0"],
      ...["--grpc-bind-address", "127.0.0.1:0", "--http-bind-address", "127.0.0.1:0"],
    ],
    { cwd: ROOT, env: { PATH: process.env["PATH"] ?? "" } },
  );
  child = proc;
  const exited = new Promise<number | null>((resolve) => proc.on("exit", (code) => resolve(code)));
  proc.stderr.resume();
  const lines = createInterface({ input: proc.stdout })[Symbol.asyncIterator]();
  // No `return`: leaving one `for await` must not close the log for the next.
  const iterable: AsyncIterable<string> = { [Symbol.asyncIterator]: () => ({ next: () => lines.next() }) };
  const ready = await logLine(iterable, (r) => r["msg"] === "kvroute ready");

  // The FIFO replaces the file in one rename: with rm then mkfifo, the watcher could read the path while it is
  // missing and log an `unreadable` rejection first.
  const fifo = path.join(dir, "fifo.tmp");
  execFileSync("mkfifo", [fifo]);
  await rename(fifo, endpoints);
  const rejected = await logLine(
    iterable,
    (r) => r["msg"] === "endpoints file rejected; keeping the last good endpoints",
  );
  expect(rejected["result"]).toBe("not-regular-file");

  // Still serving the last good fleet.
  const models = (await (await fetch(`http://127.0.0.1:${String(ready["httpPort"])}/v1/models`)).json()) as {
    data: { id: string }[];
  };
  expect(models.data.map((m) => m.id)).toEqual(["qwen3-8b"]);

  // Close our end of the log pipe: the "draining" and "stopped" lines now fail with EPIPE.
  proc.stdout.destroy();
  proc.kill("SIGTERM");
  expect(await exited).toBe(0);
});
