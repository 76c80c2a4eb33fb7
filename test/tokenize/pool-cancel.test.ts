/**
 * Cancellation in the tokenizer worker pool (real worker threads): a job whose signal aborts while queued is dropped
 * before any worker starts it; one aborted while a worker runs it settles at once and its answer, when it comes, is
 * discarded (a worker thread cannot be interrupted mid-encode). The only worker is held busy by a job the test
 * releases, so "queued" and "running" are facts, not timings.
 */
import { TokenizeError } from "../../src/tokenize";
import { WorkerPool } from "../../src/tokenize/worker-pool";

jest.setTimeout(30_000);

const SPEC = { type: "character" } as const;

describe("WorkerPool cancellation", () => {
  it("drops a queued job whose signal aborts: no worker ever starts it", async () => {
    const stages: string[] = [];
    const pool = new WorkerPool({ workers: 1, onCancelled: (stage) => stages.push(stage) });
    try {
      const hold = pool.holdOneForTest();
      const controller = new AbortController();
      const queued = pool.encode(SPEC, "abc", controller.signal);
      expect(pool.stats()).toMatchObject({ queued: 1, inFlight: 1, dispatched: 1 });
      controller.abort();
      await expect(queued).rejects.toEqual(new TokenizeError("aborted"));
      expect(pool.stats()).toMatchObject({ queued: 0, cancelledQueued: 1, cancelledRunning: 0 });
      hold.release();
      await hold.done;
      // Only the holding job reached the worker.
      expect(pool.stats()).toMatchObject({ dispatched: 1, completed: 1, inFlight: 0 });
      expect(stages).toEqual(["queued"]);
    } finally {
      await pool.close();
    }
  });

  it("settles a running job at once when its signal aborts and discards its answer", async () => {
    const stages: string[] = [];
    const pool = new WorkerPool({ workers: 1, onCancelled: (stage) => stages.push(stage) });
    try {
      const controller = new AbortController();
      const running = pool.encode(SPEC, "abc", controller.signal);
      expect(pool.stats()).toMatchObject({ inFlight: 1, queued: 0 });
      controller.abort();
      await expect(running).rejects.toEqual(new TokenizeError("aborted"));
      expect(pool.stats()).toMatchObject({ cancelledRunning: 1, inFlight: 1 });
      // The next job waits for the worker to finish the cancelled one: its own answer is the one it gets.
      expect(Array.from(await pool.encode(SPEC, "hi"))).toEqual([104, 105]);
      expect(pool.stats()).toMatchObject({ dispatched: 2, completed: 2, inFlight: 0 });
      expect(stages).toEqual(["running"]);
    } finally {
      await pool.close();
    }
  });

  it("rejects a job whose signal aborted before it was submitted, without queueing it", async () => {
    const pool = new WorkerPool({ workers: 1 });
    try {
      await expect(pool.encode(SPEC, "abc", AbortSignal.abort())).rejects.toEqual(
        new TokenizeError("aborted"),
      );
      expect(pool.stats()).toMatchObject({ dispatched: 0, queued: 0 });
    } finally {
      await pool.close();
    }
  });
});
