/**
 * The live-batch queue's bound, in memory: what a slow sink does to it is deterministic here, whatever the timing
 * of the real-socket test in pod-subscriber.test.ts.
 */
import { LiveQueue } from "../../src/kvevents/live-queue";
import type { SeqBatch } from "../../src/kvevents/replay";

const batch = (seq: number): SeqBatch => ({ seq: BigInt(seq), payload: Buffer.from([seq & 0xff]) });

describe("LiveQueue", () => {
  it("holds at most its limit, drops the newest beyond it and remembers the highest dropped sequence once", () => {
    const q = new LiveQueue(3);
    expect([1, 2, 3, 4, 5].map((s) => q.push(batch(s)))).toEqual([true, true, true, false, false]);
    expect(q.size).toBe(3);
    expect(q.takeDropped()).toBe(5n);
    expect(q.takeDropped()).toBeUndefined();
    expect(q.shift()?.seq).toBe(1n);
    expect(q.push(batch(6))).toBe(true);
    expect([q.shift(), q.shift(), q.shift(), q.shift()].map((b) => b?.seq)).toEqual([2n, 3n, 6n, undefined]);
  });

  it("stays FIFO across compaction with many batches through it", () => {
    const q = new LiveQueue(4);
    const out: bigint[] = [];
    for (let s = 0; s < 5000; s++) {
      q.push(batch(s));
      if (s % 2 === 1) for (let b = q.shift(); b; b = q.shift()) out.push(b.seq);
    }
    expect(out).toEqual(Array.from({ length: 5000 }, (_, i) => BigInt(i)));
    expect(q.takeDropped()).toBeUndefined();
  });

  it("holds at most its byte bound: a hostile engine's large batches are dropped, not queued by the thousand", () => {
    const big = (seq: number): SeqBatch => ({ seq: BigInt(seq), payload: Buffer.alloc(400) });
    const q = new LiveQueue(10_000, 1000);
    expect([1, 2, 3, 4].map((s) => q.push(big(s)))).toEqual([true, true, false, false]);
    expect(q.takeDropped()).toBe(4n);
    expect(q.push(batch(5))).toBe(true); // small enough to fit under the bound
    expect(q.shift()?.seq).toBe(1n);
    expect(q.push(big(6))).toBe(true); // room again once a batch is consumed
    expect([q.shift(), q.shift(), q.shift(), q.shift()].map((b) => b?.seq)).toEqual([2n, 5n, 6n, undefined]);
    // An empty queue takes a batch whatever its size (the socket bounds one message), then refuses the next.
    expect(q.push({ seq: 7n, payload: Buffer.alloc(5000) })).toBe(true);
    expect(q.push(batch(8))).toBe(false);
  });
});
