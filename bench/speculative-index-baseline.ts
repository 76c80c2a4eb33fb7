/**
 * BENCHMARK BASELINE ONLY: the speculative index as it was before issue 12 (per-pod `Map<bigint, seq>`), kept so
 * `npm run bench -- kv` compares the typed-array index with it in the same run. Not used by kvroute.
 *
 * The speculative index: blocks kvroute routed to an event-publishing pod within the last TTL (llm-d's
 * "speculative" entries, TTL 2 s by default). The event index learns a prompt only after the pod has run its
 * prefill and the `BlockStored` event has arrived, which for a cold 2k-token prefill behind a queue is hundreds of
 * milliseconds; requests of the same prefix arriving in that window would otherwise see no match and be spread
 * over other pods. For publishing pods a block therefore counts as held when the event index has it *or* it is
 * here. Entries are short-lived guesses, not a second record of the cache:
 *
 * - a `BlockStored` for the block makes the entry redundant and drops it; a `BlockRemoved`, `AllBlocksCleared` or
 *   a dropped event stream drops it too (a pod that just evicted the block is not holding it);
 * - an entry expires `ttlMs` after the last routing of that block to that pod;
 * - at the per-pod bound, a new entry replaces the pod's oldest one (the next to expire anyway); at the global
 *   bound, the oldest entry across pods. A prompt longer than the per-pod bound keeps its leading blocks, which
 *   are the ones a match needs.
 *
 * Layout: one global ring of (pod, key, expiry) records in insertion order, each numbered by a sequence number, and
 * per pod a `Map<key, sequence number of its live record>` kept in insertion order (a refresh deletes and
 * re-inserts). Every entry has the same TTL, so insertion order is expiry order: expiry and the global bound both
 * pop the ring's head, O(1) per entry. A record whose entry was refreshed or dropped since is stale (the map holds
 * another number, or nothing) and is skipped when popped. Live entries ≤ records ≤ `maxBlocks`, so the ring's fixed
 * typed arrays (20 bytes per slot) bound the whole index.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import type { BlockKey } from "../src/prefix/block-key";
import type { BlockHolder, BlockListener } from "../src/prefix/prefix-index";

/** Options of {@link createSpeculativeIndex}. */
export interface SpeculativeIndexOptions {
  /** Lifetime of an entry after the last routing of its block to its pod (ms, > 0). */
  readonly ttlMs: number;
  /** Most entries across pods (≥ 1); also the ring's preallocated size. */
  readonly maxBlocks: number;
  /** Most entries of one pod (≥ 1). */
  readonly maxBlocksPerPod: number;
  /** Monotonic clock in ms (tests inject one); default `performance.now`. */
  readonly now?: () => number;
}

/** The speculative index; fed by `add` on the routing path and by the event index as its {@link BlockListener}. */
export interface SpeculativeIndex extends BlockListener {
  /** Record that a prompt's `keys` (first block first, at the pod's engine block size) were just sent to `podKey`. */
  add(podKey: string, keys: ArrayLike<BlockKey>): void;
  /**
   * For each pod in `podKeys`: the longest run of leading `keys` each held by `confirmed(pod)` (the event index)
   * or speculatively. Pods with no match are absent.
   */
  match(
    keys: ArrayLike<BlockKey>,
    podKeys: readonly string[],
    confirmed: (podKey: string) => BlockHolder | undefined,
  ): Map<string, number>;
  /** Unexpired entries of a pod. */
  blocks(podKey: string): number;
  /** Forget a pod's entries. */
  dropPod(podKey: string): void;
  /** Unexpired entries across pods. */
  size(): number;
  /** Entries dropped by the per-pod or global bound before they expired, since creation. */
  overflows(): number;
}

interface PodEntries {
  readonly id: number;
  readonly podKey: string;
  /** Block key → sequence number of its live ring record; insertion order is expiry order. */
  readonly keys: Map<bigint, number>;
  /**
   * One iterator over `keys`, kept for the pod's lifetime, that yields its oldest entry at the per-pod bound. A
   * fresh `keys().next()` per eviction would walk every entry deleted since the map last rehashed (V8 keeps them
   * in place), quadratic over a burst; a kept iterator passes each slot once. Every live entry is ahead of it: it
   * only ever yielded entries that were then deleted, and a refreshed entry is re-inserted at the end.
   */
  oldest: Iterator<bigint> | undefined;
}

/** Create an empty speculative index. */
export function createSpeculativeIndex(options: SpeculativeIndexOptions): SpeculativeIndex {
  const ttl = options.ttlMs;
  if (!(ttl > 0)) throw new RangeError(`ttlMs must be > 0, got ${ttl}`);
  const cap = Math.max(1, Math.floor(options.maxBlocks));
  const perPod = Math.max(1, Math.floor(options.maxBlocksPerPod));
  const now = options.now ?? (() => performance.now());
  const recPod = new Int32Array(cap);
  const recKey = new BigUint64Array(cap);
  const recExp = new Float64Array(cap);
  let head = 0;
  /** Sequence number of the record at `head`; the one at `head + i` is `headSeq + i`. */
  let headSeq = 0;
  let count = 0;
  let live = 0;
  let overflowed = 0;
  const byKey = new Map<string, PodEntries>();
  const byId = new Map<number, PodEntries>();
  let nextId = 0;
  /** The pod `add` is filling: its map may empty for a moment, but its record must stay registered. */
  let filling: PodEntries | undefined;

  const forgetPod = (pod: PodEntries): void => {
    live -= pod.keys.size;
    byKey.delete(pod.podKey);
    byId.delete(pod.id);
  };

  /** Pop the ring's oldest record; drop its entry when still live. Returns whether an entry was dropped. */
  const popOldest = (): boolean => {
    const id = recPod[head] as number;
    const key = recKey[head] as bigint;
    const seq = headSeq++;
    head = head + 1 === cap ? 0 : head + 1;
    count--;
    const pod = byId.get(id);
    if (pod === undefined || pod.keys.get(key) !== seq) return false;
    pod.keys.delete(key);
    live--;
    // Pods come and go (rollouts): an empty record is not kept around.
    if (pod.keys.size === 0 && pod !== filling) forgetPod(pod);
    return true;
  };

  const expire = (t: number): void => {
    while (count > 0 && (recExp[head] as number) <= t) popOldest();
  };

  const drop = (podKey: string, key: bigint): void => {
    const pod = byKey.get(podKey);
    if (pod === undefined || !pod.keys.delete(key)) return;
    live--;
    if (pod.keys.size === 0) forgetPod(pod);
  };

  return {
    add(podKey, keys) {
      if (keys.length === 0) return;
      const t = now();
      expire(t);
      const exp = t + ttl;
      let pod = byKey.get(podKey);
      if (pod === undefined) {
        pod = { id: nextId++, podKey, keys: new Map(), oldest: undefined };
        byKey.set(podKey, pod);
        byId.set(pod.id, pod);
      }
      const entries = pod.keys;
      filling = pod;
      try {
        // Last block first: a prompt's leading blocks end up the newest, so the bounds drop its tail first. Keys
        // past the per-pod bound would be dropped by this same call: they are not looked at.
        const looked = Math.min(keys.length, perPod);
        overflowed += keys.length - looked;
        for (let i = looked - 1; i >= 0; i--) {
          const key = keys[i] as bigint;
          if (entries.delete(key)) live--;
          else if (entries.size >= perPod) {
            pod.oldest ??= entries.keys();
            const oldest = pod.oldest.next();
            if (!oldest.done) {
              entries.delete(oldest.value);
              live--;
              overflowed++;
            }
          }
          // A full ring holds no expired record (just expired above), so its head is the oldest live guess or stale.
          if (count === cap && popOldest()) overflowed++;
          const at = head + count < cap ? head + count : head + count - cap;
          recPod[at] = pod.id;
          recKey[at] = key;
          recExp[at] = exp;
          entries.set(key, headSeq + count);
          count++;
          live++;
        }
      } finally {
        filling = undefined;
      }
    },

    match(keys, podKeys, confirmed) {
      const out = new Map<string, number>();
      if (keys.length === 0) return out;
      if (count > 0) expire(now());
      for (const podKey of podKeys) {
        const held = confirmed(podKey);
        const spec = live > 0 ? byKey.get(podKey)?.keys : undefined;
        let n = 0;
        if (spec === undefined || spec.size === 0) {
          // The common case (no recent routing to this pod): exactly the event index's own loop.
          if (held === undefined) continue;
          while (n < keys.length && held.has(keys[n] as bigint)) n++;
        } else if (held === undefined) {
          while (n < keys.length && spec.has(keys[n] as bigint)) n++;
        } else {
          while (n < keys.length) {
            const key = keys[n] as bigint;
            if (!held.has(key) && !spec.has(key)) break;
            n++;
          }
        }
        if (n > 0) out.set(podKey, n);
      }
      return out;
    },

    // BlockStored confirms the block: the event index now answers for it, the guess is redundant.
    stored: drop,
    removed: drop,
    cleared(podKey) {
      const pod = byKey.get(podKey);
      if (pod !== undefined) forgetPod(pod);
    },

    blocks(podKey) {
      if (count > 0) expire(now());
      return byKey.get(podKey)?.keys.size ?? 0;
    },

    dropPod(podKey) {
      const pod = byKey.get(podKey);
      if (pod !== undefined) forgetPod(pod);
    },

    size() {
      if (count > 0) expire(now());
      return live;
    },

    overflows: () => overflowed,
  };
}
