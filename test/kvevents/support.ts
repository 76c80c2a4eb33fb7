/**
 * Test helpers: a sink that records every call and lets tests await a condition on the calls, and a bounded
 * condition poll.
 *
 * @module
 */
import type { KvEventSink, StoredBlocks } from "../../src/prefix/prefix-index";

/** One recorded sink call. */
export type SinkCall =
  | {
      op: "stored";
      pod: string;
      hashes: bigint[];
      parent: bigint | undefined;
      tokens: number;
      lora: string | undefined;
    }
  | { op: "removed"; pod: string; hashes: bigint[] }
  | { op: "cleared"; pod: string }
  | { op: "drop"; pod: string };

/** A {@link KvEventSink} that records calls; `delayMs` busy-waits in `blockStored` (a slow index). */
export class RecordingSink implements KvEventSink {
  calls: SinkCall[] = [];
  delayMs = 0;
  private waiters: { pred: (c: SinkCall[]) => boolean; resolve: () => void }[] = [];

  blockStored(pod: string, e: StoredBlocks): void {
    if (this.delayMs > 0) {
      const until = Date.now() + this.delayMs;
      while (Date.now() < until) {
        // busy: the sink blocks the event loop
      }
    }
    this.record({
      op: "stored",
      pod,
      hashes: [...e.blockHashes],
      parent: e.parentBlockHash,
      tokens: e.tokenIds.length,
      lora: e.loraName,
    });
  }
  blockRemoved(pod: string, hashes: readonly bigint[]): void {
    this.record({ op: "removed", pod, hashes: [...hashes] });
  }
  allBlocksCleared(pod: string): void {
    this.record({ op: "cleared", pod });
  }
  dropPod(pod: string): void {
    this.record({ op: "drop", pod });
  }

  /** Forget the calls so far. */
  reset(): void {
    this.calls = [];
  }

  /** Operations only, for compact assertions. */
  ops(): string[] {
    return this.calls.map((c) => c.op);
  }

  /** Resolve once `pred(calls)` holds; reject after `timeoutMs`. */
  waitFor(pred: (calls: SinkCall[]) => boolean, timeoutMs = 5000): Promise<void> {
    if (pred(this.calls)) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(() => {
        this.waiters = this.waiters.filter((w) => w !== waiter);
        reject(new Error(`sink condition not met; calls: ${JSON.stringify(this.ops())}`));
      }, timeoutMs);
      const waiter = {
        pred,
        resolve: () => {
          clearTimeout(t);
          resolve();
        },
      };
      this.waiters.push(waiter);
    });
  }

  private record(c: SinkCall): void {
    this.calls.push(c);
    for (const w of [...this.waiters]) {
      if (w.pred(this.calls)) {
        this.waiters = this.waiters.filter((x) => x !== w);
        w.resolve();
      }
    }
  }
}

/** Poll `cond` every few ms until it holds; reject after `timeoutMs`. For state with no callback (counters). */
export async function until(cond: () => boolean, what: string, timeoutMs = 5000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!cond()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
