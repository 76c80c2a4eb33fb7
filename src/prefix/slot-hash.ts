/**
 * An open-addressing hash index from (owner, 64-bit key) to a slot number, for the prefix indexes' typed-array
 * entry stores. Keys are read as two 32-bit words (`lo`, `hi`) from the store's own columns, so neither a lookup
 * nor an insert creates a `BigInt`. A bucket (4 bytes) holds `slot + 1` in its low 28 bits (0 = empty), above them
 * the entry's distance from its home bucket (0–6; 7 = "7 or more") and 1 bit of the key's hash. The tag spares a
 * probe the key columns (a cache miss each, in a large store) of half the occupants that are not the key looked
 * for; the distance spares a deletion's backward shift the columns of the entries it looks at (three random
 * misses each). Measured on the event index at its bound (half load): with distances 0–2 and a 2-bit tag, 0.47 of
 * deletions read some entry's columns; 3 bits of distance for 1 of tag made storing a block ~6 % cheaper. Slots
 * must stay below 2^28 − 1 (268 M).
 *
 * Linear probing; deletion shifts later entries of the probe run back (no tombstones, so a long-lived table never
 * degrades). The bucket count need not be a power of two: the home bucket is the 32-bit hash scaled to the bucket
 * count, so the owner can size the table at exactly `slots / {@link MAX_LOAD}` and pay 8 bytes per slot (at half load: short probe runs, so a deletion shifts few entries back).
 * Duplicate keys are allowed (each slot is its own entry); `find` returns one of them.
 *
 * No entry sits more than {@link MAX_PROBE} buckets from its home: an insert that would goes unindexed
 * ({@link insert} returns false), and probes stop there. Honest keys never come near it (at half load, 8 M random
 * keys probed at most 44 buckets, and one in 200,000 went past 32); what does is one key stored thousands of times,
 * or keys made to collide, which would otherwise grow one probe run without bound and make every insert and removal
 * in it cost the run's length (a pod storing 200,000 blocks of the same tokens stalled a pod drop for 15 s).
 *
 * @module
 */

/** No slot. */
export const NO_SLOT = -1;

/** Highest fill of the buckets the owner must keep (slots in the table ÷ buckets). */
export const MAX_LOAD = 0.5;

const TWO_TO_MINUS_32 = 2.3283064365386963e-10;
const SLOT_BITS = 28;
const SLOT_MASK = (1 << SLOT_BITS) - 1;
const DIST_SHIFT = 28;
const DIST_MASK = 7;
const TAG_SHIFT = 31;
/** Stored distance meaning "7 or more: recompute from the columns". */
const FAR = 7;
/** Farthest an entry may sit from its home bucket; see the module comment. */
export const MAX_PROBE = 128;
/** Most slots a {@link SlotHash} can index. */
export const MAX_SLOTS = SLOT_MASK - 1;

/** 32-bit hash of (owner, lo, hi): murmur3-style mixing, since test keys and pod ids are small integers. */
export function hashKey(owner: number, lo: number, hi: number): number {
  let h = Math.imul(lo ^ Math.imul(owner, 0x27d4eb2f), 0xcc9e2d51);
  h = (h << 15) | (h >>> 17);
  h = Math.imul(h ^ hi, 0x1b873593);
  h = (h << 13) | (h >>> 19);
  h = Math.imul(h, 5) + 0xe6546b64;
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Buckets needed for `slots` entries at {@link MAX_LOAD} (always at least one empty bucket). */
export function bucketsFor(slots: number): number {
  return Math.ceil(slots / MAX_LOAD) + 1;
}

/** The key columns a {@link SlotHash} reads: the store owns and grows them, and hands the new arrays over. */
export interface KeyColumns {
  readonly owner: Int32Array;
  readonly lo: Uint32Array;
  readonly hi: Uint32Array;
}

/** Open-addressing index over a store's key columns. */
export class SlotHash {
  private buckets: Int32Array;
  private count: number;
  private owner: Int32Array;
  private lo: Uint32Array;
  private hi: Uint32Array;
  private used = 0;
  /** Where the last {@link find} that found nothing stopped: its bucket, the key's hash and distance from home. */
  private missBucket = -1;
  private missHash = 0;
  private missDistance = 0;

  constructor(bucketCount: number, columns: KeyColumns) {
    this.count = Math.max(2, Math.floor(bucketCount));
    this.buckets = new Int32Array(this.count);
    this.owner = columns.owner;
    this.lo = columns.lo;
    this.hi = columns.hi;
  }

  /** Slots indexed. */
  get size(): number {
    return this.used;
  }

  /** Bytes held by the buckets. */
  get bytes(): number {
    return this.buckets.byteLength;
  }

  private home(owner: number, lo: number, hi: number): number {
    return (hashKey(owner, lo, hi) * this.count * TWO_TO_MINUS_32) | 0;
  }

  /** The home bucket of (owner, lo, hi). */
  homeOf(owner: number, lo: number, hi: number): number {
    return this.home(owner, lo, hi);
  }

  /**
   * Read buckets `homes[from..to)` and fold them into the result (the caller keeps it, so the reads are not
   * optimised away). For batches: in a table larger than the cache every probe starts with a miss, and the probes of
   * {@link find}, {@link insert} and {@link remove} run one after another, each waiting for its miss; this tight
   * loop of independent reads lets the CPU overlap the misses, and the probes then hit the cache.
   */
  warm(homes: Int32Array, from: number, to: number): number {
    const b = this.buckets;
    let sink = 0;
    for (let i = from; i < to; i++) sink ^= b[homes[i] as number] as number;
    return sink;
  }

  /** A slot holding (owner, lo, hi), or {@link NO_SLOT}. */
  find(owner: number, lo: number, hi: number): number {
    const b = this.buckets;
    const n = this.count;
    const los = this.lo;
    const his = this.hi;
    const owners = this.owner;
    const h = hashKey(owner, lo, hi);
    const tag = h & 1;
    let i = (h * n * TWO_TO_MINUS_32) | 0;
    for (let d = 0; ; d++) {
      const v = b[i] as number;
      if (v === 0 || d > MAX_PROBE) {
        // Past MAX_PROBE nothing of this key can sit, nor be inserted: no miss to remember.
        this.missBucket = v === 0 ? i : -1;
        this.missHash = h;
        this.missDistance = d;
        return NO_SLOT;
      }
      if (v >>> TAG_SHIFT === tag) {
        const s = (v & SLOT_MASK) - 1;
        if (los[s] === lo && his[s] === hi && owners[s] === owner) return s;
      }
      i = i + 1 === n ? 0 : i + 1;
    }
  }

  /**
   * Index `slot`, whose key the last {@link find} looked up and did not find, in the empty bucket that lookup
   * stopped at. Only valid when nothing was inserted or removed since that lookup (the caller's guarantee; checked
   * by the key's hash, and a mismatch falls back to {@link insert}).
   */
  insertAfterMiss(slot: number): boolean {
    const i = this.missBucket;
    const h = this.missHash;
    this.missBucket = -1;
    if (
      i < 0 ||
      this.buckets[i] !== 0 ||
      hashKey(this.owner[slot] as number, this.lo[slot] as number, this.hi[slot] as number) !== h
    ) {
      return this.insert(slot);
    }
    if (slot >= MAX_SLOTS) throw new RangeError(`slot ${slot} beyond the hash's ${MAX_SLOTS}`);
    if (this.used >= this.count - 1) throw new RangeError("slot hash full");
    this.buckets[i] = ((h & 1) << TAG_SHIFT) | (Math.min(this.missDistance, FAR) << DIST_SHIFT) | (slot + 1);
    this.used++;
    return true;
  }

  /**
   * Index `slot` under the key its columns hold now; false when the nearest free bucket is more than
   * {@link MAX_PROBE} from its home (the slot stays unindexed: `find` does not return it, `remove` finds nothing to
   * remove). The caller keeps the load ≤ {@link MAX_LOAD}.
   */
  insert(slot: number): boolean {
    this.missBucket = -1;
    if (slot >= MAX_SLOTS) throw new RangeError(`slot ${slot} beyond the hash's ${MAX_SLOTS}`);
    // Probing needs an empty bucket to stop at; the owner's load bound keeps half of them empty.
    if (this.used >= this.count - 1) throw new RangeError("slot hash full");
    const b = this.buckets;
    const n = this.count;
    const h = hashKey(this.owner[slot] as number, this.lo[slot] as number, this.hi[slot] as number);
    let i = (h * n * TWO_TO_MINUS_32) | 0;
    let d = 0;
    while (b[i] !== 0) {
      if (++d > MAX_PROBE) return false;
      i = i + 1 === n ? 0 : i + 1;
    }
    b[i] = ((h & 1) << TAG_SHIFT) | (Math.min(d, FAR) << DIST_SHIFT) | (slot + 1);
    this.used++;
    return true;
  }

  /** Unindex `slot` (its key columns must still hold its key). Returns whether it was indexed. */
  remove(slot: number): boolean {
    this.missBucket = -1;
    const b = this.buckets;
    const n = this.count;
    let i = this.home(this.owner[slot] as number, this.lo[slot] as number, this.hi[slot] as number);
    for (let d = 0; ; d++) {
      const v = b[i] as number;
      if (v === 0 || d > MAX_PROBE) return false;
      if ((v & SLOT_MASK) === slot + 1) break;
      i = i + 1 === n ? 0 : i + 1;
    }
    // Backward shift: an entry later in the run moves into the hole when its distance from home reaches back to it.
    let hole = i;
    let j = i;
    for (;;) {
      j = j + 1 === n ? 0 : j + 1;
      const v = b[j] as number;
      if (v === 0) break;
      let d = (v >>> DIST_SHIFT) & DIST_MASK;
      if (d === FAR) {
        const s = (v & SLOT_MASK) - 1;
        const k = this.home(this.owner[s] as number, this.lo[s] as number, this.hi[s] as number);
        d = j >= k ? j - k : j + n - k;
      }
      const gap = j >= hole ? j - hole : j + n - hole;
      if (d < gap) continue;
      b[hole] = (v & ~(DIST_MASK << DIST_SHIFT)) | (Math.min(d - gap, FAR) << DIST_SHIFT);
      hole = j;
    }
    b[hole] = 0;
    this.used--;
    return true;
  }

  /** Re-bucket every indexed slot into `bucketCount` buckets over (possibly new) columns. */
  rebuild(bucketCount: number, columns: KeyColumns): void {
    const old = this.buckets;
    this.owner = columns.owner;
    this.lo = columns.lo;
    this.hi = columns.hi;
    this.count = Math.max(2, Math.floor(bucketCount));
    this.buckets = new Int32Array(this.count);
    this.used = 0;
    for (let i = 0; i < old.length; i++) {
      const v = old[i] as number;
      if (v !== 0) this.insert((v & SLOT_MASK) - 1);
    }
  }

  /** Point at grown columns without re-bucketing (same keys, same slots). */
  setColumns(columns: KeyColumns): void {
    this.owner = columns.owner;
    this.lo = columns.lo;
    this.hi = columns.hi;
  }
}
