/**
 * The bounded queue of live batches between a pod's SUB socket and its apply loop. At the bound the newest batch
 * is dropped (and remembered: a gap even if no later batch arrives), so a slow sink or a long replay fills this
 * queue rather than libzmq's buffers or the heap. The bound is in batches and in payload bytes: an engine that
 * publishes large batches (or a hostile one publishing huge ones) fills the byte bound first.
 *
 * @module
 */
import type { SeqBatch } from "./replay";

/** Default bound of the payload bytes a pod's queue holds. */
export const DEFAULT_QUEUE_BYTES = 128 * 1024 * 1024;

/** FIFO of live batches with a bound. */
export class LiveQueue {
  private readonly items: (SeqBatch | undefined)[] = [];
  private head = 0;
  private droppedUpTo: bigint | undefined;
  /** Payload bytes of the batches held. */
  private bytes = 0;

  /**
   * @param limit Most batches held (beyond it `push` drops).
   * @param byteLimit Most payload bytes held; a batch that would pass it is dropped, unless the queue is empty (a
   *   batch is never refused for its size alone: the socket's message-size bound is for that).
   */
  constructor(
    private readonly limit: number,
    private readonly byteLimit = DEFAULT_QUEUE_BYTES,
  ) {}

  /** Batches held now. */
  get size(): number {
    return this.items.length - this.head;
  }

  /** Append; false (and the batch dropped) when the queue is full. */
  push(b: SeqBatch): boolean {
    const size = this.size;
    if (size >= this.limit || (size > 0 && this.bytes + b.payload.length > this.byteLimit)) {
      this.droppedUpTo = b.seq;
      return false;
    }
    this.items.push(b);
    this.bytes += b.payload.length;
    return true;
  }

  /** The oldest batch, removed; undefined when empty. */
  shift(): SeqBatch | undefined {
    if (this.head >= this.items.length) return undefined;
    const m = this.items[this.head];
    // Release the slot at once: a consumed payload must not stay reachable (it would survive young-generation GCs
    // and be promoted, making every batch cost an old-generation collection later).
    this.items[this.head++] = undefined;
    if (m) this.bytes -= m.payload.length;
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
