/**
 * Paged KV block pool with vLLM-style automatic prefix caching (`vllm/v1/core/block_pool.py`): blocks carry a
 * reference count; a block whose count drops to 0 goes to the tail of a free queue but keeps its hash, so it
 * can still be hit until allocation pops it from the head and evicts it (emitting BlockRemoved). Unlike vLLM,
 * a hash is held by at most one physical block, so a `removed` event always means "gone".
 *
 * @module
 */
import type { SimKvEvent } from "./types";

export class BlockPool {
  readonly numBlocks: number;
  /** Requests referencing each block. */
  private readonly ref: Int32Array;
  /** Chain hash of the cached content, or undefined for a private/unfilled block. */
  private readonly hashes: (bigint | undefined)[];
  /** Free queue as an intrusive doubly linked list; index `numBlocks` is the sentinel. O(1) touch and free. */
  private readonly prev: Int32Array;
  private readonly next: Int32Array;
  private free = 0;
  /** hash → block id, for blocks holding cached content (in use or free). */
  private readonly cached = new Map<bigint, number>();
  /** Events in scheduler order, published (and cleared) by the engine once per step. */
  readonly pending: SimKvEvent[] = [];

  constructor(numBlocks: number) {
    this.numBlocks = numBlocks;
    this.ref = new Int32Array(numBlocks);
    this.hashes = new Array<bigint | undefined>(numBlocks).fill(undefined);
    this.prev = new Int32Array(numBlocks + 1);
    this.next = new Int32Array(numBlocks + 1);
    const s = numBlocks;
    this.prev[s] = s;
    this.next[s] = s;
    for (let b = 0; b < numBlocks; b++) this.pushTail(b);
  }

  get freeBlocks(): number {
    return this.free;
  }

  get cachedBlocks(): number {
    return this.cached.size;
  }

  /** Fraction of blocks referenced by requests, as vLLM's `kv_cache_usage_perc` (free cached blocks count as free). */
  usage(): number {
    return this.numBlocks === 0 ? 0 : (this.numBlocks - this.free) / this.numBlocks;
  }

  /** Block holding `hash`, if cached. */
  lookup(hash: bigint): number | undefined {
    return this.cached.get(hash);
  }

  /** Whether `block` sits in the free queue (ref count 0). */
  isFree(block: number): boolean {
    return this.ref[block] === 0;
  }

  /** Take a reference on a cached block found by {@link lookup} (prefix hit): leaves the free queue if idle. */
  touch(block: number): void {
    if (this.ref[block] === 0) this.unlink(block);
    this.ref[block] = (this.ref[block] ?? 0) + 1;
  }

  /** Pop the least recently freed block, evicting its cached content; undefined when none is free. */
  allocate(): number | undefined {
    const s = this.numBlocks;
    const b = this.next[s] ?? s;
    if (b === s) return undefined;
    this.unlink(b);
    const h = this.hashes[b];
    if (h !== undefined) {
      this.cached.delete(h);
      this.hashes[b] = undefined;
      // vLLM emits one BlockRemoved per evicted hash.
      this.pending.push({ t: "removed", blockHashes: [h] });
    }
    this.ref[b] = 1;
    return b;
  }

  /**
   * Drop one reference on each block. vLLM frees a request's blocks in reverse order so the tail of a chain
   * (least likely to be shared) is evicted first; callers pass the request's blocks in chain order.
   */
  release(blocks: readonly number[]): void {
    for (let i = blocks.length - 1; i >= 0; i--) {
      const b = blocks[i] as number;
      const r = (this.ref[b] ?? 0) - 1;
      this.ref[b] = r;
      if (r === 0) this.pushTail(b);
    }
  }

  /** Register a newly full block's hash. False when another block already caches it (the block stays private). */
  register(block: number, hash: bigint): boolean {
    if (this.cached.has(hash)) return false;
    this.cached.set(hash, block);
    this.hashes[block] = hash;
    return true;
  }

  /** Forget every cached hash (in-use blocks keep their content but can no longer be hit) and queue `cleared`. */
  reset(): void {
    this.cached.clear();
    this.hashes.fill(undefined);
    this.pending.push({ t: "cleared" });
  }

  private pushTail(b: number): void {
    const s = this.numBlocks;
    const last = this.prev[s] ?? s;
    this.next[last] = b;
    this.prev[b] = last;
    this.next[b] = s;
    this.prev[s] = b;
    this.free++;
  }

  private unlink(b: number): void {
    const p = this.prev[b] ?? this.numBlocks;
    const n = this.next[b] ?? this.numBlocks;
    this.next[p] = n;
    this.prev[n] = p;
    this.free--;
  }
}
