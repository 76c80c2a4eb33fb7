/**
 * `readMessages`: one message at a time, in order, with the endings `for await` over the stream's iterator had.
 */
import { PassThrough } from "node:stream";
import { PrematureCloseError, readMessages } from "../../src/extproc/message-reader";
import type { ReadStep } from "../../src/extproc/message-reader";

const objects = (): PassThrough => new PassThrough({ objectMode: true });

/** A promise and its resolver, for a handler that finishes when the test says so. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void } {
  let resolve: (v: T) => void = () => undefined;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

describe("readMessages", () => {
  it("hands messages over in order and resolves at the stream's end", async () => {
    const stream = objects();
    const seen: number[] = [];
    const done = readMessages<number>(stream, (n) => {
      seen.push(n);
      return "next";
    });
    for (let i = 0; i < 50; i++) stream.write(i);
    stream.end();
    await done;
    expect(seen).toEqual(Array.from({ length: 50 }, (_, i) => i));
  });

  it("never starts a message before the one in hand is done", async () => {
    const stream = objects();
    const log: string[] = [];
    const gates = [deferred<ReadStep>(), deferred<ReadStep>()];
    const done = readMessages<number>(stream, (n) => {
      log.push(`start ${n}`);
      const gate = gates[n];
      if (gate === undefined) return "next";
      return gate.promise.then((step) => {
        log.push(`end ${n}`);
        return step;
      });
    });
    stream.write(0);
    stream.write(1);
    stream.write(2);
    stream.end();
    // Let the stream deliver whatever it would while message 0 is in hand.
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["start 0"]);
    gates[0]!.resolve("next");
    await new Promise((resolve) => setImmediate(resolve));
    expect(log).toEqual(["start 0", "end 0", "start 1"]);
    gates[1]!.resolve("next");
    await done;
    expect(log).toEqual(["start 0", "end 0", "start 1", "end 1", "start 2"]);
  });

  it("stops when told, leaving the stream open and the rest unread", async () => {
    const stream = objects();
    const seen: number[] = [];
    const done = readMessages<number>(stream, (n) => {
      seen.push(n);
      return n === 1 ? "stop" : "next";
    });
    for (let i = 0; i < 5; i++) stream.write(i);
    await done;
    expect(seen).toEqual([0, 1]);
    expect(stream.destroyed).toBe(false);
  });

  it("rejects on a stream error, or a close before the end", async () => {
    const failing = objects();
    const failed = readMessages<number>(failing, () => "next");
    failing.destroy(new Error("reset"));
    await expect(failed).rejects.toThrow("reset");

    const closing = objects();
    const closed = readMessages<number>(closing, () => "next");
    closing.destroy();
    await expect(closed).rejects.toBeInstanceOf(PrematureCloseError);
  });

  it("reports a failure only once the message in hand is done, and reads nothing after it", async () => {
    const stream = objects();
    const gate = deferred<ReadStep>();
    const seen: number[] = [];
    let finishedFirst = false;
    const done = readMessages<number>(stream, (n) => {
      seen.push(n);
      if (n !== 0) return "next";
      return gate.promise.then((step) => {
        finishedFirst = true;
        return step;
      });
    });
    stream.write(0);
    await new Promise((resolve) => setImmediate(resolve));
    stream.destroy(new Error("cancelled"));
    await new Promise((resolve) => setImmediate(resolve));
    expect(finishedFirst).toBe(false);
    gate.resolve("next");
    await expect(done).rejects.toThrow("cancelled");
    expect(finishedFirst).toBe(true);
    expect(seen).toEqual([0]);
  });

  it("rejects when the handler throws or rejects", async () => {
    const throwing = objects();
    const thrown = readMessages<number>(throwing, () => {
      throw new Error("bug");
    });
    throwing.write(1);
    await expect(thrown).rejects.toThrow("bug");

    const rejecting = objects();
    const rejected = readMessages<number>(rejecting, () => Promise.reject(new Error("async bug")));
    rejecting.write(1);
    await expect(rejected).rejects.toThrow("async bug");
  });
});
