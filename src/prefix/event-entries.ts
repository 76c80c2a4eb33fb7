/**
 * The entry store of the event index: one record per (pod, engine block) in parallel typed arrays, found by engine
 * hash (removals, anchors) and by kvroute's own key (matching) through two {@link SlotHash}es, linked into one
 * global recency list and into the chain of the event that stored it.
 *
 * Per slot: pod id, own-key and engine-hash words, two list links, parent slot, live-children count and own-path
 * fingerprint (4 bytes each) = 40 bytes, plus 2 × 4 / 0.5 bytes of buckets: 56 bytes a block. Capacity doubles from
 * 1024 up to `maxLive`. There is no per-pod list (it would cost 8 more bytes a block): clearing or dropping a pod
 * scans the pod-id column once (sequential, ~1 ms per million slots), which happens on an engine reset or a lost
 * stream, not per event.
 *
 * Chains and zombies as in {@link ChainEntries}: a record removed while it has live children (a `BlockRemoved` of a
 * parent, or kvroute's own bound taking a parent stored before its children) stays as a zombie — unhashed, out of
 * the list — so its children's parent stays valid; the pod's `orphans` counts live records under a zombie, and
 * matching walks such a pod block by block. A zombie is freed with its last live child, so slots stay below
 * 2 × `maxLive`.
 *
 * @module
 */
import { grown } from "./grown";
import { MAX_SLOTS, NO_SLOT, SlotHash, bucketsFor } from "./slot-hash";

/** Scratch of {@link EventEntries.warm}: bucket numbers (one allocation per process, grown to the longest event). */
let warmEngine = new Int32Array(512);
let warmOwn = new Int32Array(512);

/** Recency-list end. */
export const NIL = -1;
const DETACHED = -2;
const ZOMBIE = -3;
const FREE = -4;

/** One pod's part of the store. */
export interface EventPod {
  readonly id: number;
  /** Live records. */
  size: number;
  /** Live records whose parent is a zombie. */
  orphans: number;
  /**
   * Records stored without a place in one of the hashes (see the hash's `MAX_PROBE`): the pod stored one block's
   * content thousands of times, or its engine hashes collide. Such a record is not matched by its content, or not
   * removed by its engine hash (the global bound still evicts it).
   */
  crowded: number;
}

/** Typed-array record store of the event index; see the module comment. */
export class EventEntries {
  owner: Int32Array;
  ownLo: Uint32Array;
  ownHi: Uint32Array;
  engLo: Uint32Array;
  engHi: Uint32Array;
  fp: Uint32Array;
  parent: Int32Array;
  children: Int32Array;
  private gPrev: Int32Array;
  private gNext: Int32Array;
  private readonly byOwn: SlotHash;
  private readonly byEngine: SlotHash;
  private head = NIL;
  private tail = NIL;
  private free = NIL;
  private allocated = 0;
  private capacity: number;
  private readonly slotLimit: number;
  /** Live records across pods. */
  live = 0;
  /** Where {@link warm} folds what it reads (kept, so the reads are not optimised away). */
  private warmSink = 0;

  constructor(
    private readonly maxLive: number,
    initial = 1024,
  ) {
    // Zombies never outnumber live entries; the hash's slot field bounds the rest (config caps maxLive at 100 M).
    if (2 * maxLive > MAX_SLOTS) throw new RangeError(`event entries: at most ${MAX_SLOTS / 2} entries`);
    this.slotLimit = 2 * maxLive;
    const n = Math.max(1, Math.min(maxLive, initial));
    this.capacity = n;
    this.owner = new Int32Array(n);
    this.ownLo = new Uint32Array(n);
    this.ownHi = new Uint32Array(n);
    this.engLo = new Uint32Array(n);
    this.engHi = new Uint32Array(n);
    this.fp = new Uint32Array(n);
    this.parent = new Int32Array(n);
    this.children = new Int32Array(n);
    this.gPrev = new Int32Array(n);
    this.gNext = new Int32Array(n);
    this.byOwn = new SlotHash(bucketsFor(n), this.ownColumns());
    this.byEngine = new SlotHash(bucketsFor(n), this.engineColumns());
  }

  private ownColumns() {
    return { owner: this.owner, lo: this.ownLo, hi: this.ownHi };
  }

  private engineColumns() {
    return { owner: this.owner, lo: this.engLo, hi: this.engHi };
  }

  /** Bytes of every typed array. */
  get bytes(): number {
    return this.capacity * 40 + this.byOwn.bytes + this.byEngine.bytes;
  }

  /** Live record of the pod with this engine hash, or {@link NO_SLOT}. */
  findEngine(pod: number, lo: number, hi: number): number {
    return this.byEngine.find(pod, lo, hi);
  }

  /** A live record of the pod with this own key, or {@link NO_SLOT}. */
  findOwn(pod: number, lo: number, hi: number): number {
    return this.byOwn.find(pod, lo, hi);
  }

  /**
   * Pull into the cache the buckets that storing `n` new records (engine and own words `eng`, `own`, key i = words
   * 2i, 2i+1) will probe, and those of the `evict` least recent records that must make room: see
   * {@link SlotHash.warm}. Only a speed hint: nothing changes.
   */
  warm(pod: number, eng: Uint32Array, own: Uint32Array, n: number, evict: number): void {
    const m = n + evict;
    if (warmEngine.length < m) {
      warmEngine = new Int32Array(Math.max(m, 2 * warmEngine.length));
      warmOwn = new Int32Array(warmEngine.length);
    }
    const he = warmEngine;
    const ho = warmOwn;
    for (let i = 0; i < n; i++) {
      he[i] = this.byEngine.homeOf(pod, eng[2 * i] as number, eng[2 * i + 1] as number);
      ho[i] = this.byOwn.homeOf(pod, own[2 * i] as number, own[2 * i + 1] as number);
    }
    let k = n;
    for (let s = this.head; k < m && s !== NIL; s = this.gNext[s] as number) {
      const o = this.owner[s] as number;
      he[k] = this.byEngine.homeOf(o, this.engLo[s] as number, this.engHi[s] as number);
      ho[k++] = this.byOwn.homeOf(o, this.ownLo[s] as number, this.ownHi[s] as number);
    }
    this.warmSink ^= this.byEngine.warm(he, 0, k) ^ this.byOwn.warm(ho, 0, k);
  }

  /** The least recent live record, or {@link NIL}. */
  oldest(): number {
    return this.head;
  }

  /** The record's own key as a `BigInt` (for listeners). */
  ownKey(slot: number): bigint {
    return (BigInt(this.ownHi[slot] as number) << 32n) | BigInt(this.ownLo[slot] as number);
  }

  /**
   * New live record, detached (the caller links it with {@link touch}). `parent` is the record of the block before
   * it, or {@link NO_SLOT}; with `reserved`, the parent's child count was already taken by {@link reserveChild}.
   */
  create(
    pod: EventPod,
    engLo: number,
    engHi: number,
    ownLo: number,
    ownHi: number,
    fp: number,
    parent: number,
    reserved = false,
  ): number {
    let slot = this.free;
    if (slot !== NIL) {
      this.free = this.gNext[slot] as number;
    } else {
      if (this.allocated >= this.capacity) this.grow();
      slot = this.allocated++;
    }
    this.owner[slot] = pod.id;
    this.ownLo[slot] = ownLo;
    this.ownHi[slot] = ownHi;
    this.engLo[slot] = engLo;
    this.engHi[slot] = engHi;
    this.fp[slot] = fp;
    this.children[slot] = 0;
    this.parent[slot] = parent;
    this.gPrev[slot] = DETACHED;
    const byOwn = this.byOwn.insert(slot);
    const byEngine = this.byEngine.insert(slot);
    if (!byOwn || !byEngine) pod.crowded++;
    if (parent !== NO_SLOT) {
      if (!reserved) this.children[parent] = (this.children[parent] as number) + 1;
      if (this.gPrev[parent] === ZOMBIE) pod.orphans++;
    }
    pod.size++;
    this.live++;
    return slot;
  }

  /**
   * Count a child of `slot` ahead of creating it, so that evictions made room for it cannot free the slot (it
   * becomes a zombie instead, and the child an orphan). Undo with {@link releaseChild} when no child is created.
   */
  reserveChild(slot: number): void {
    this.children[slot] = (this.children[slot] as number) + 1;
  }

  releaseChild(slot: number): void {
    const left = (this.children[slot] as number) - 1;
    this.children[slot] = left;
    if (left === 0 && this.gPrev[slot] === ZOMBIE) this.release(slot);
  }

  isDetached(slot: number): boolean {
    return this.gPrev[slot] === DETACHED;
  }

  detach(slot: number): void {
    if (this.gPrev[slot] === DETACHED) return;
    this.unlink(slot);
    this.gPrev[slot] = DETACHED;
  }

  /** Make a live record the most recent. */
  touch(slot: number): void {
    if (this.gPrev[slot] !== DETACHED) this.unlink(slot);
    const t = this.tail;
    this.gPrev[slot] = t;
    this.gNext[slot] = NIL;
    if (t !== NIL) this.gNext[t] = slot;
    else this.head = slot;
    this.tail = slot;
  }

  private unlink(slot: number): void {
    const p = this.gPrev[slot] as number;
    const n = this.gNext[slot] as number;
    if (p !== NIL) this.gNext[p] = n;
    else this.head = n;
    if (n !== NIL) this.gPrev[n] = p;
    else this.tail = p;
  }

  /** Remove a live record: freed, or kept as a zombie while it has live children. */
  remove(pod: EventPod, slot: number): void {
    if (this.gPrev[slot] !== DETACHED) this.unlink(slot);
    this.byOwn.remove(slot);
    this.byEngine.remove(slot);
    const p = this.parent[slot] as number;
    if (p !== NO_SLOT) {
      this.parent[slot] = NO_SLOT;
      if (this.gPrev[p] === ZOMBIE) pod.orphans--;
      this.releaseChild(p);
    }
    pod.size--;
    this.live--;
    const kids = this.children[slot] as number;
    if (kids > 0) {
      this.gPrev[slot] = ZOMBIE;
      pod.orphans += kids;
    } else {
      this.gPrev[slot] = FREE;
      this.gNext[slot] = this.free;
      this.free = slot;
    }
  }

  private release(slot: number): void {
    this.gPrev[slot] = FREE;
    this.gNext[slot] = this.free;
    this.free = slot;
  }

  /** Remove every record of the pod, zombies included: one sequential scan of the pod-id column. */
  removeAll(pod: EventPod): void {
    const id = pod.id;
    for (let s = 0; s < this.allocated; s++) {
      if (this.owner[s] !== id) continue;
      const state = this.gPrev[s] as number;
      if (state === FREE) continue;
      if (state !== ZOMBIE) {
        this.unlink(s);
        this.byOwn.remove(s);
        this.byEngine.remove(s);
        this.live--;
      }
      this.release(s);
    }
    pod.size = 0;
    pod.orphans = 0;
    pod.crowded = 0;
  }

  private grow(): void {
    const limit = this.capacity < this.maxLive ? this.maxLive : this.slotLimit;
    const n = Math.min(this.capacity * 2, limit);
    if (n <= this.capacity) throw new Error("event entries: slot limit reached");
    this.owner = grown(this.owner, n);
    this.ownLo = grown(this.ownLo, n);
    this.ownHi = grown(this.ownHi, n);
    this.engLo = grown(this.engLo, n);
    this.engHi = grown(this.engHi, n);
    this.fp = grown(this.fp, n);
    this.parent = grown(this.parent, n);
    this.children = grown(this.children, n);
    this.gPrev = grown(this.gPrev, n);
    this.gNext = grown(this.gNext, n);
    this.capacity = n;
    this.byOwn.rebuild(bucketsFor(n), this.ownColumns());
    this.byEngine.rebuild(bucketsFor(n), this.engineColumns());
  }
}
