/**
 * The entry store of the approximate index: one record per (pod, block key) in parallel typed arrays, found
 * through a {@link SlotHash}, linked into a global and a per-pod recency list, and into its prompt chain.
 *
 * Per slot: key words, pod id, four list links, parent slot, live-children count, path fingerprint (4 bytes each)
 * and the creating `add`'s ticket (8 bytes: a `Float64Array`, exact for 2^53 adds) = 48 bytes, plus 4 / 0.5 bytes
 * of hash buckets: ~56 bytes a slot. Capacity doubles from 1024 up to `maxLive`, so a small fleet does not pay for
 * the bound up front, and a full index holds exactly `maxLive` slots.
 *
 * Chains: an entry created by an `add` links to the entry of the block before it (its parent), and each entry
 * counts its live children. Removing an entry that still has live children (a failed request's `forget`, the only
 * non-leaf removal: recency eviction only ever takes leaves, because an `add` makes a parent more recent than its
 * children) keeps it as a *zombie*: out of the recency lists and not held, but still hashed, so its children keep
 * a valid parent and a later `add` of the same key brings it back (re-adopting them). A pod's `orphans` counts its
 * live entries whose parent is a zombie; while it is non-zero the pod's held set is not closed under "the block
 * before", and the index falls back to the exact walk for it. A zombie is freed with its last live child, so
 * zombies never outnumber live entries and slots stay below 2 × `maxLive`.
 *
 * @module
 */
import { grown } from "./grown";
import { MAX_SLOTS, NO_SLOT, SlotHash, bucketsFor } from "./slot-hash";

/** Recency-list end. */
export const NIL = -1;
/** `gPrev` of a live entry that is out of the recency lists for the moment (an `add` is placing it). */
const DETACHED = -2;
/** `gPrev` of a zombie (removed, kept for its live children). */
const ZOMBIE = -3;
/** `gPrev` of a free slot (next free one in `gNext`). */
const FREE = -4;

/** One pod's part of the store. */
export interface ChainPod {
  readonly id: number;
  readonly key: string;
  /** Live entries. */
  size: number;
  /** Least / most recent live entry of the pod. */
  head: number;
  tail: number;
  /** Live entries whose parent is a zombie (the held set is then not prefix-closed). */
  orphans: number;
  /**
   * An entry was reached by a path other than the one it was created on (keys that are not hash chains, or a
   * 64-bit collision): its chain links say nothing about the query's path. Sticky until the pod is empty.
   */
  conflicted: boolean;
}

/** Typed-array entry store with chains; see the module comment. */
export class ChainEntries {
  owner: Int32Array;
  lo: Uint32Array;
  hi: Uint32Array;
  fp: Uint32Array;
  parent: Int32Array;
  children: Int32Array;
  ticket: Float64Array;
  private gPrev: Int32Array;
  private gNext: Int32Array;
  private pPrev: Int32Array;
  private pNext: Int32Array;
  private readonly hash: SlotHash;
  private head = NIL;
  private tail = NIL;
  private free = NIL;
  private allocated = 0;
  private capacity: number;
  private readonly slotLimit: number;
  /** Live entries across pods. */
  live = 0;

  constructor(
    private readonly maxLive: number,
    initial = 1024,
  ) {
    // Zombies never outnumber live entries, and live ones exceed the bound by one for a moment (an `add` places a
    // block before making room for it); the hash's slot field bounds the rest (config caps maxLive at 100 M).
    if (2 * maxLive + 2 > MAX_SLOTS)
      throw new RangeError(`chain entries: at most ${MAX_SLOTS / 2 - 1} entries`);
    this.slotLimit = 2 * maxLive + 2;
    const n = Math.max(1, Math.min(maxLive, initial));
    this.capacity = n;
    this.owner = new Int32Array(n);
    this.lo = new Uint32Array(n);
    this.hi = new Uint32Array(n);
    this.fp = new Uint32Array(n);
    this.parent = new Int32Array(n);
    this.children = new Int32Array(n);
    this.ticket = new Float64Array(n);
    this.gPrev = new Int32Array(n);
    this.gNext = new Int32Array(n);
    this.pPrev = new Int32Array(n);
    this.pNext = new Int32Array(n);
    this.hash = new SlotHash(bucketsFor(n), this);
  }

  /** Bytes of every typed array (for tests and the benchmark). */
  get bytes(): number {
    return this.capacity * 48 + this.hash.bytes;
  }

  /** Slots in use, zombies included. */
  get slotsInUse(): number {
    return this.hash.size;
  }

  /** A slot holding (pod, lo, hi), live or zombie, or {@link NO_SLOT}. */
  find(pod: number, lo: number, hi: number): number {
    return this.hash.find(pod, lo, hi);
  }

  isLive(slot: number): boolean {
    return (this.gPrev[slot] as number) >= DETACHED;
  }

  isDetached(slot: number): boolean {
    return this.gPrev[slot] === DETACHED;
  }

  /** The least recent live entry across pods, or {@link NIL}. */
  oldest(): number {
    return this.head;
  }

  /** New live, detached entry; `parent` is the entry of the block before it (or {@link NO_SLOT}). */
  create(pod: ChainPod, lo: number, hi: number, fp: number, ticket: number, parent: number): number {
    const slot = this.place(pod, lo, hi, fp, ticket, parent);
    this.hash.insert(slot);
    return slot;
  }

  /**
   * {@link create} right after a {@link find} of the same key found nothing, with no change to the store in
   * between: the entry goes into the bucket that lookup stopped at, without probing again.
   */
  createAfterMiss(pod: ChainPod, lo: number, hi: number, fp: number, ticket: number, parent: number): number {
    const slot = this.place(pod, lo, hi, fp, ticket, parent);
    this.hash.insertAfterMiss(slot);
    return slot;
  }

  private place(pod: ChainPod, lo: number, hi: number, fp: number, ticket: number, parent: number): number {
    let slot = this.free;
    if (slot !== NIL) {
      this.free = this.gNext[slot] as number;
    } else {
      if (this.allocated >= this.capacity) this.grow();
      slot = this.allocated++;
    }
    this.owner[slot] = pod.id;
    this.lo[slot] = lo;
    this.hi[slot] = hi;
    this.fp[slot] = fp;
    this.ticket[slot] = ticket;
    this.children[slot] = 0;
    this.gPrev[slot] = DETACHED;
    this.attach(pod, slot, parent);
    pod.size++;
    this.live++;
    return slot;
  }

  /** Bring a zombie back as a live, detached entry created by `ticket`: its live children are no longer orphans. */
  revive(pod: ChainPod, slot: number, ticket: number, parent: number): void {
    pod.orphans -= this.children[slot] as number;
    this.ticket[slot] = ticket;
    this.gPrev[slot] = DETACHED;
    this.attach(pod, slot, parent);
    pod.size++;
    this.live++;
  }

  private attach(pod: ChainPod, slot: number, parent: number): void {
    this.parent[slot] = parent;
    if (parent === NO_SLOT) return;
    this.children[parent] = (this.children[parent] as number) + 1;
    if (this.gPrev[parent] === ZOMBIE) pod.orphans++;
  }

  /** Take a live entry out of the recency lists (an `add` re-places it); no-op when already detached. */
  detach(pod: ChainPod, slot: number): void {
    if (this.gPrev[slot] === DETACHED) return;
    this.unlink(pod, slot);
    this.gPrev[slot] = DETACHED;
  }

  /** Make a live entry the most recent, globally and in its pod. */
  touch(pod: ChainPod, slot: number): void {
    if (this.gPrev[slot] !== DETACHED) this.unlink(pod, slot);
    const gp = this.tail;
    this.gPrev[slot] = gp;
    this.gNext[slot] = NIL;
    if (gp !== NIL) this.gNext[gp] = slot;
    else this.head = slot;
    this.tail = slot;
    const pp = pod.tail;
    this.pPrev[slot] = pp;
    this.pNext[slot] = NIL;
    if (pp !== NIL) this.pNext[pp] = slot;
    else pod.head = slot;
    pod.tail = slot;
  }

  private unlink(pod: ChainPod, slot: number): void {
    const gp = this.gPrev[slot] as number;
    const gn = this.gNext[slot] as number;
    if (gp !== NIL) this.gNext[gp] = gn;
    else this.head = gn;
    if (gn !== NIL) this.gPrev[gn] = gp;
    else this.tail = gp;
    const pp = this.pPrev[slot] as number;
    const pn = this.pNext[slot] as number;
    if (pp !== NIL) this.pNext[pp] = pn;
    else pod.head = pn;
    if (pn !== NIL) this.pPrev[pn] = pp;
    else pod.tail = pp;
  }

  /** The next live entry of the pod after `slot` (towards the most recent), or {@link NIL}. */
  podAfter(slot: number): number {
    return this.pNext[slot] as number;
  }

  /** Remove a live entry: freed, or kept as a zombie while it has live children. */
  remove(pod: ChainPod, slot: number): void {
    if (this.gPrev[slot] !== DETACHED) this.unlink(pod, slot);
    this.detachFromParent(pod, slot);
    pod.size--;
    this.live--;
    const kids = this.children[slot] as number;
    if (kids > 0) {
      this.gPrev[slot] = ZOMBIE;
      pod.orphans += kids;
    } else {
      this.release(slot);
    }
    if (pod.size === 0) pod.conflicted = false;
  }

  private detachFromParent(pod: ChainPod, slot: number): void {
    const p = this.parent[slot] as number;
    if (p === NO_SLOT) return;
    this.parent[slot] = NO_SLOT;
    const left = (this.children[p] as number) - 1;
    this.children[p] = left;
    if (this.gPrev[p] !== ZOMBIE) return;
    pod.orphans--;
    if (left === 0) this.release(p);
  }

  private release(slot: number): void {
    this.hash.remove(slot);
    this.gPrev[slot] = FREE;
    this.gNext[slot] = this.free;
    this.free = slot;
  }

  private grow(): void {
    const limit = this.capacity < this.maxLive + 1 ? this.maxLive + 1 : this.slotLimit;
    const n = Math.min(this.capacity * 2, limit);
    if (n <= this.capacity) throw new Error("chain entries: slot limit reached");
    this.owner = grown(this.owner, n);
    this.lo = grown(this.lo, n);
    this.hi = grown(this.hi, n);
    this.fp = grown(this.fp, n);
    this.parent = grown(this.parent, n);
    this.children = grown(this.children, n);
    this.ticket = grown(this.ticket, n);
    this.gPrev = grown(this.gPrev, n);
    this.gNext = grown(this.gNext, n);
    this.pPrev = grown(this.pPrev, n);
    this.pNext = grown(this.pNext, n);
    this.capacity = n;
    this.hash.rebuild(bucketsFor(n), this);
  }
}
