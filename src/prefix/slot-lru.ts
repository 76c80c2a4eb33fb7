/**
 * A global recency list over (pod, block) entries, stored as parallel typed arrays instead of one object per
 * entry. Both prefix indexes keep, per pod, a `Map<bigint, slot>` (Smi values, no per-entry object) and use this
 * list to evict the least recently added/touched entry across all pods.
 *
 * Cost per entry: 4 (prev) + 4 (next) + 4 (pod) + 8 (key) + 8 (aux) = 28 bytes here, plus the pod map's entry and
 * the bigint key (roughly 60–80 bytes in V8). Capacity grows by doubling up to the bound, so a small fleet does not
 * pay for the maximum up front.
 *
 * @module
 */

/** No slot (end of list, empty list). */
export const NIL = -1;

/** Doubly linked recency list of slots; head = least recent, tail = most recent. */
export class SlotLru {
  private prev: Int32Array;
  private next: Int32Array;
  private podOf: Int32Array;
  private keyOf: BigUint64Array;
  private auxOf: BigUint64Array;
  private head = NIL;
  private tail = NIL;
  private free = NIL;
  private used = 0;
  private allocated = 0;

  /** `maxSlots` is the hard bound: callers evict before allocating when {@link full}. */
  constructor(private readonly maxSlots: number) {
    const initial = Math.max(1, Math.min(maxSlots, 1024));
    this.prev = new Int32Array(initial);
    this.next = new Int32Array(initial);
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

  /** Take a slot for (`pod`, `key`, `aux`) and make it the most recent. */
  alloc(pod: number, key: bigint, aux = 0n): number {
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
    this.used++;
    return slot;
  }

  /** Make `slot` the most recent. */
  touch(slot: number): void {
    if (slot === this.tail) return;
    this.unlink(slot);
    this.linkTail(slot);
  }

  /** Return `slot` to the free list. */
  release(slot: number): void {
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
    this.podOf = i32(this.podOf);
    this.keyOf = u64(this.keyOf);
    this.auxOf = u64(this.auxOf);
  }
}
