/**
 * The bounded queue of live batches between a pod's SUB socket and its apply loop. At the bound the newest batch
 * is dropped (and remembered: a gap even if no later batch arrives), so a slow sink or a long replay fills this
 * queue rather than libzmq's buffers or the heap.
 *
 * @module
 */
import type { SeqBatch } from "./replay";

/** FIFO of live batches with a bound. */
export class LiveQueue {
  private readonly items: (SeqBatch | undefined)[] = [];
  private head = 0;
  private droppedUpTo: bigint | undefined;

  /** @param limit Most batches held (beyond it `push` drops). */
  constructor(private readonly limit: number) {}

  /** Batches held now. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Append; false (and the batch dropped) when the queue is full. */
  push(b: SeqBatch): boolean {
    if (this.size >= this.limit) {
      this.droppedUpTo = b.seq;
      return false;
    }
    this.items.push(b);
    return true;
  }

  /** The oldest batch, removed; undefined when empty. */
  shift(): SeqBatch | undefined {
    if (this.head >= this.items.length) return undefined;
    const m = this.items[this.head];
    // Release the slot at once: a consumed payload must not stay reachable (it would survive young-generation GCs
    // and be promoted, making every batch cost an old-generation collection later).
    this.items[this.head++] = undefined;
    if (this.head === this.items.length) {
      this.items.length = 0;
      this.head = 0;
    } else if (this.head > 1024 && this.head * 2 > this.items.length) {
      // Compact now and then: O(1) amortised without an ever-growing array.
      this.items.splice(0, this.head);
      this.head = 0;
    }
    return m;
  }

  /** The highest sequence dropped since the last call, if any. */
  takeDropped(): bigint | undefined {
    const d = this.droppedUpTo;
    this.droppedUpTo = undefined;
    return d;
  }
}
