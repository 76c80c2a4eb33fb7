/**
 * BENCHMARK BASELINE ONLY: the slot LRU index as it was before issue 12 (per-pod `Map<bigint, slot>`), kept so
 * `npm run bench -- kv` compares the typed-array index with it in the same run. Not used by kvroute.
 *
 * A global recency list over (pod, block) entries, stored as parallel typed arrays instead of one object per
 * entry. Both prefix indexes keep, per pod, a `Map<bigint, slot>` (Smi values, no per-entry object) and use this
 * list to evict the least recently added/touched entry across all pods.
 *
 * Cost per entry: 4 (prev) + 4 (next) + 4 (pod) + 8 (key) + 8 (aux) = 28 bytes here, plus the pod map's entry and
 * the bigint key (roughly 60–80 bytes in V8). Capacity grows by doubling up to the bound, so a small fleet does not
 * pay for the maximum up front.
 *
 * With `chains` on, every slot is also linked into its pod's own recency list (a {@link SlotChain}, 8 more bytes a
 * slot), so a per-pod bound evicts the pod's oldest entry in O(1). Iterating a `Map` in insertion order for that
 * instead is O(entries deleted since the map last rehashed): V8 keeps deleted entries in place until then.
 *
 * @module
 */

/** No slot (end of list, empty list). */
export const NIL = -1;

/** One pod's recency list inside a {@link SlotLru} with chains: head = least recent. Owned by the caller. */
export interface SlotChain {
  head: number;
  tail: number;
  size: number;
}

/** A new empty chain. */
export function emptyChain(): SlotChain {
  return { head: NIL, tail: NIL, size: 0 };
}

/** Doubly linked recency list of slots; head = least recent, tail = most recent. */
export class SlotLru {
  private prev: Int32Array;
  private next: Int32Array;
  /** Per-pod chain links; empty arrays when chains are off. */
  private chainPrev: Int32Array;
  private chainNext: Int32Array;
  private podOf: Int32Array;
  private keyOf: BigUint64Array;
  private auxOf: BigUint64Array;
  private head = NIL;
  private tail = NIL;
  private free = NIL;
  private used = 0;
  private allocated = 0;

  /**
   * `maxSlots` is the hard bound: callers evict before allocating when {@link full}. With `chains`, every
   * `alloc`/`touch`/`release` must name the slot's chain.
   */
  constructor(
    private readonly maxSlots: number,
    private readonly chains = false,
  ) {
    const initial = Math.max(1, Math.min(maxSlots, 1024));
    this.prev = new Int32Array(initial);
    this.next = new Int32Array(initial);
    this.chainPrev = new Int32Array(chains ? initial : 0);
    this.chainNext = new Int32Array(chains ? initial : 0);
    this.podOf = new Int32Array(initial);
    this.keyOf = new BigUint64Array(initial);
    this.auxOf = new BigUint64Array(initial);
  }

  /** Entries in use. */
  get size(): number {
    return this.used;
  }

  /** Whether the bound is reached (the caller must free a slot before {@link alloc}). */
  get full(): boolean {
    return this.used >= this.maxSlots;
  }

  /** The least recent slot, or {@link NIL}. */
  oldest(): number {
    return this.head;
  }

  pod(slot: number): number {
    return this.podOf[slot] as number;
  }

  key(slot: number): bigint {
    return this.keyOf[slot] as bigint;
  }

  aux(slot: number): bigint {
    return this.auxOf[slot] as bigint;
  }

  /** The slot after `slot` in its chain (towards the most recent), or {@link NIL}. */
  chainAfter(slot: number): number {
    return this.chainNext[slot] as number;
  }

  /** Take a slot for (`pod`, `key`, `aux`) and make it the most recent (in `chain` too, when given). */
  alloc(pod: number, key: bigint, aux = 0n, chain?: SlotChain): number {
    let slot = this.free;
    if (slot !== NIL) {
      this.free = this.next[slot] as number;
    } else {
      if (this.allocated >= this.prev.length) this.grow();
      slot = this.allocated++;
    }
    this.podOf[slot] = pod;
    this.keyOf[slot] = key;
    this.auxOf[slot] = aux;
    this.linkTail(slot);
    if (chain) this.chainLinkTail(chain, slot);
    this.used++;
    return slot;
  }

  /** Make `slot` the most recent (in `chain` too, when given). */
  touch(slot: number, chain?: SlotChain): void {
    if (chain && slot !== chain.tail) {
      this.chainUnlink(chain, slot);
      this.chainLinkTail(chain, slot);
    }
    if (slot === this.tail) return;
    this.unlink(slot);
    this.linkTail(slot);
  }

  /** Return `slot` to the free list (unlinking it from `chain` too, when given). */
  release(slot: number, chain?: SlotChain): void {
    if (chain) this.chainUnlink(chain, slot);
    this.unlink(slot);
    this.next[slot] = this.free;
    this.free = slot;
    this.used--;
  }

  private linkTail(slot: number): void {
    this.prev[slot] = this.tail;
    this.next[slot] = NIL;
    if (this.tail !== NIL) this.next[this.tail] = slot;
    else this.head = slot;
    this.tail = slot;
  }

  private unlink(slot: number): void {
    const p = this.prev[slot] as number;
    const n = this.next[slot] as number;
    if (p !== NIL) this.next[p] = n;
    else this.head = n;
    if (n !== NIL) this.prev[n] = p;
    else this.tail = p;
  }

  private chainLinkTail(chain: SlotChain, slot: number): void {
    this.chainPrev[slot] = chain.tail;
    this.chainNext[slot] = NIL;
    if (chain.tail !== NIL) this.chainNext[chain.tail] = slot;
    else chain.head = slot;
    chain.tail = slot;
    chain.size++;
  }

  private chainUnlink(chain: SlotChain, slot: number): void {
    const p = this.chainPrev[slot] as number;
    const n = this.chainNext[slot] as number;
    if (p !== NIL) this.chainNext[p] = n;
    else chain.head = n;
    if (n !== NIL) this.chainPrev[n] = p;
    else chain.tail = p;
    chain.size--;
  }

  private grow(): void {
    const size = Math.min(this.maxSlots, this.prev.length * 2);
    const i32 = (a: Int32Array): Int32Array => {
      const b = new Int32Array(size);
      b.set(a);
      return b;
    };
    const u64 = (a: BigUint64Array): BigUint64Array => {
      const b = new BigUint64Array(size);
      b.set(a);
      return b;
    };
    this.prev = i32(this.prev);
    this.next = i32(this.next);
    if (this.chains) {
      this.chainPrev = i32(this.chainPrev);
      this.chainNext = i32(this.chainNext);
    }
    this.podOf = i32(this.podOf);
    this.keyOf = u64(this.keyOf);
    this.auxOf = u64(this.auxOf);
  }
}
