/**
 * A background thread lowers its own scheduling priority and only its own: the thread that calls it runs at
 * BACKGROUND_NICE, the event loop's thread keeps its nice value (Linux nice values are per thread).
 */
import { readFileSync } from "node:fs";
import { Worker } from "node:worker_threads";
import { BACKGROUND_NICE } from "../src/background-thread-priority";

/** Field 19 of /proc/thread-self/stat (after the parenthesised command name): the calling thread's nice value. */
function threadNice(): number {
  const stat = readFileSync("/proc/thread-self/stat", "utf8");
  return Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[16]);
}

describe("lowerThisThreadPriority", () => {
  it("lowers the calling worker thread to BACKGROUND_NICE and leaves the event loop's thread alone", async () => {
    const loopBefore = threadNice();
    const tsx = require.resolve("tsx/cjs");
    const mod = require.resolve("../src/background-thread-priority");
    const src =
      `require(${JSON.stringify(tsx)});` +
      `const { readFileSync } = require("node:fs");` +
      `const nice = () => { const s = readFileSync("/proc/thread-self/stat", "utf8"); return Number(s.slice(s.lastIndexOf(")") + 2).split(" ")[16]); };` +
      `const before = nice();` +
      `const lowered = require(${JSON.stringify(mod)}).lowerThisThreadPriority();` +
      `require("node:worker_threads").parentPort.postMessage({ before, lowered, after: nice() });`;
    const w = new Worker(src, { eval: true });
    const got = await new Promise<{ before: number; lowered: boolean; after: number }>((resolve, reject) => {
      w.once("message", resolve);
      w.once("error", reject);
    });
    await w.terminate();
    expect(got).toEqual({ before: loopBefore, lowered: true, after: BACKGROUND_NICE });
    expect(threadNice()).toBe(loopBefore);
  });
});
