/**
 * Plain reference models of the prefix indexes' contracts (Maps and linear scans, no cleverness), for differential
 * tests against the typed-array indexes, plus a seeded PRNG and prompt generators.
 *
 * @module
 */

/** Seeded PRNG (mulberry32): the same seed gives the same run. */
export function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const MASK = 0xffffffffffffffffn;

/** A hash chain over block "tokens" (one number per block): key i depends on every block before it. */
export function chainKeys(blocks: readonly number[], context = 0): BigUint64Array {
  const out = new BigUint64Array(blocks.length);
  let k = BigInt(context) * 0x9e3779b97f4a7c15n;
  for (let i = 0; i < blocks.length; i++) {
    k = ((k ^ BigInt(blocks[i] as number)) * 0x100000001b3n + 0xcbf29ce484222325n) & MASK;
    k ^= k >> 29n;
    out[i] = k;
  }
  return out;
}

interface RefEntry {
  ticket: number;
  touched: number;
}

/**
 * The approximate index's contract: per pod a key → (ticket, last touch) map; the global and per-pod bounds evict
 * the least recently touched entry (found by scanning). `add` keeps the run the pod already holds out of its own
 * evictions, creates the missing keys first to last, then touches the prompt last block first.
 */
export class ReferenceApproximate {
  private readonly pods = new Map<string, Map<bigint, RefEntry>>();
  private clock = 0;
  private tickets = 0;
  evicted = 0;

  constructor(
    private readonly maxBlocks: number,
    private readonly bound: (pod: string) => number,
  ) {}

  size(): number {
    let n = 0;
    for (const p of this.pods.values()) n += p.size;
    return n;
  }

  blocks(pod: string): number {
    return this.pods.get(pod)?.size ?? 0;
  }

  private oldest(only: string | undefined, keep: Set<bigint>, keepPod: string): [string, bigint] | undefined {
    let best: [string, bigint] | undefined;
    let bestT = Infinity;
    for (const [pod, entries] of this.pods) {
      if (only !== undefined && pod !== only) continue;
      for (const [key, e] of entries) {
        if (pod === keepPod && keep.has(key)) continue;
        if (e.touched < bestT) {
          bestT = e.touched;
          best = [pod, key];
        }
      }
    }
    return best;
  }

  private evict(victim: [string, bigint] | undefined): void {
    if (!victim) throw new Error("reference: nothing to evict");
    this.pods.get(victim[0])?.delete(victim[1]);
    this.evicted++;
  }

  add(pod: string, keys: BigUint64Array): number {
    const ticket = ++this.tickets;
    if (keys.length === 0) return ticket;
    let entries = this.pods.get(pod);
    if (!entries) this.pods.set(pod, (entries = new Map()));
    const podMax = Math.min(this.bound(pod), this.maxBlocks);
    while (entries.size > podMax) this.evict(this.oldest(pod, new Set(), pod));
    const m = Math.min(keys.length, podMax);
    const mine = new Set<bigint>();
    for (let i = 0; i < m; i++) if (entries.has(keys[i] as bigint)) mine.add(keys[i] as bigint);
    for (let i = 0; i < m; i++) {
      const key = keys[i] as bigint;
      if (mine.has(key)) continue;
      if (entries.size >= podMax) this.evict(this.oldest(pod, mine, pod));
      if (this.size() >= this.maxBlocks) this.evict(this.oldest(undefined, mine, pod));
      entries.set(key, { ticket, touched: 0 });
      mine.add(key);
    }
    for (let i = m - 1; i >= 0; i--) (entries.get(keys[i] as bigint) as RefEntry).touched = ++this.clock;
    return ticket;
  }

  forget(pod: string, keys: BigUint64Array, ticket: number): number {
    const entries = this.pods.get(pod);
    if (!entries) return 0;
    let removed = 0;
    for (let i = 0; i < Math.min(keys.length, this.maxBlocks); i++) {
      const e = entries.get(keys[i] as bigint);
      if (e?.ticket === ticket) {
        entries.delete(keys[i] as bigint);
        removed++;
      }
    }
    return removed;
  }

  match(keys: BigUint64Array, pods: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const pod of pods) {
      const entries = this.pods.get(pod);
      let n = 0;
      while (entries && n < keys.length && entries.has(keys[n] as bigint)) n++;
      if (n > 0) out.set(pod, n);
    }
    return out;
  }

  dropPod(pod: string): void {
    this.pods.delete(pod);
  }
}

interface RefBlock {
  own: bigint;
  touched: number;
}

/** An event as the reference needs it. */
export interface RefStored {
  readonly blockHashes: readonly bigint[];
  readonly parentBlockHash: bigint | undefined;
  /** kvroute's own keys of the blocks, chained from the anchor (the test computes them with the real hasher). */
  readonly own: (anchor: bigint | undefined) => BigUint64Array;
}

/**
 * The event index's contract: per pod engine hash → (own key, last touch); a block is held when any engine block
 * of the pod has its own key; the global bound evicts the least recently stored/refreshed block (found by scanning).
 * A store keeps the event's already-known blocks out of its own evictions and touches the event last block first.
 */
export class ReferenceEvents {
  private readonly pods = new Map<string, Map<bigint, RefBlock>>();
  private clock = 0;
  evicted = 0;

  constructor(private readonly maxBlocks: number) {}

  size(): number {
    let n = 0;
    for (const p of this.pods.values()) n += p.size;
    return n;
  }

  blocks(pod: string): number {
    return this.pods.get(pod)?.size ?? 0;
  }

  private evictOldest(keepPod: string, keep: Set<bigint>): void {
    let best: [Map<bigint, RefBlock>, bigint] | undefined;
    let bestT = Infinity;
    for (const [pod, blocks] of this.pods)
      for (const [h, b] of blocks) {
        if (pod === keepPod && keep.has(h)) continue;
        if (b.touched < bestT) {
          bestT = b.touched;
          best = [blocks, h];
        }
      }
    if (!best) throw new Error("reference: nothing to evict");
    best[0].delete(best[1]);
    this.evicted++;
  }

  /** Returns "unanchored" when the parent is unknown. */
  stored(pod: string, event: RefStored): "ok" | "unanchored" {
    let blocks = this.pods.get(pod);
    if (!blocks) this.pods.set(pod, (blocks = new Map()));
    let anchor: bigint | undefined;
    if (event.parentBlockHash !== undefined) {
      const a = blocks.get(event.parentBlockHash);
      if (!a) return "unanchored";
      anchor = a.own;
    }
    const own = event.own(anchor);
    const n = Math.min(event.blockHashes.length, own.length);
    const kept = Math.min(n, this.maxBlocks);
    for (let i = kept; i < n; i++) {
      blocks.delete(event.blockHashes[i] as bigint);
      this.evicted++;
    }
    const mine = new Set<bigint>();
    for (let i = 0; i < kept; i++) {
      const h = event.blockHashes[i] as bigint;
      const b = blocks.get(h);
      if (b?.own === own[i]) mine.add(h);
      else if (b) blocks.delete(h);
    }
    for (let i = 0; i < kept; i++) {
      const h = event.blockHashes[i] as bigint;
      if (mine.has(h) && blocks.get(h)?.own === own[i]) continue;
      if (blocks.has(h)) blocks.delete(h);
      if (this.size() >= this.maxBlocks) this.evictOldest(pod, mine);
      blocks.set(h, { own: own[i] as bigint, touched: 0 });
      mine.add(h);
    }
    for (let i = kept - 1; i >= 0; i--)
      (blocks.get(event.blockHashes[i] as bigint) as RefBlock).touched = ++this.clock;
    return "ok";
  }

  removed(pod: string, hashes: readonly bigint[]): void {
    for (const h of hashes) this.pods.get(pod)?.delete(h);
  }

  cleared(pod: string): void {
    this.pods.get(pod)?.clear();
  }

  match(keys: BigUint64Array, pods: readonly string[]): Map<string, number> {
    const out = new Map<string, number>();
    for (const pod of pods) {
      const owns = new Set([...(this.pods.get(pod)?.values() ?? [])].map((b) => b.own));
      let n = 0;
      while (n < keys.length && owns.has(keys[n] as bigint)) n++;
      if (n > 0) out.set(pod, n);
    }
    return out;
  }
}
