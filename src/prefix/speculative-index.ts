/**
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
 * Layout: one global ring of (pod, key words, expiry, path fingerprint) records in insertion order, preallocated at `maxBlocks`; a
 * {@link SlotHash} over the ring indexes each (pod, key)'s live record, and each pod's live records are linked in
 * insertion order (a refresh unlinks the old record and appends a new one). Every entry has the same TTL, so
 * insertion order is expiry order: expiry and the global bound both pop the ring's head, O(1) per entry, and the
 * per-pod bound takes the pod's list head. A record whose entry was refreshed or dropped since is stale (no longer
 * hashed) and is skipped when popped. 33 bytes a ring slot plus 8 of hash buckets: ~41 bytes an entry, no `BigInt`
 * kept. A forgotten pod's records stay hashed under its id (never reused) until the ring pops them.
 *
 * Matching the union with the event index searches (key-path.ts) instead of walking, as the other indexes do: a
 * prompt's keys are added last first, so every entry's predecessor on its path is newer and age order never leaves
 * a key without the one before it; only drops out of age order (`stored`, `removed`) can, and only until the pod's
 * entries no newer than the dropped one are gone ({@link closedPath}). A side not known closed is walked exactly,
 * from where the search of the other side stopped.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import type { BlockKey } from "./block-key";
import { firstMissing, keyWords, pathFingerprints, splitKey } from "./key-path";
import type { BlockHolder, BlockListener, PathHolder, PrefixIndex } from "./prefix-index";
import { isPathHolder } from "./prefix-index";
import { NO_SLOT, SlotHash, bucketsFor } from "./slot-hash";

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
  /** Live entries. */
  size: number;
  /** Oldest / newest live record (ring slot), or NIL. */
  head: number;
  tail: number;
  /**
   * Latest expiry of an entry dropped out of age order (`stored`, `removed`): while the pod holds an entry that does
   * not expire later, it may hold a key without the key before it on its path.
   */
  dropExp: number;
}

const NIL = -1;

/** Whether a confirmed holder has key i (its words when it takes them: no `BigInt`). */
function heldHas(
  held: BlockHolder | undefined,
  keys: ArrayLike<BlockKey>,
  words: Uint32Array,
  i: number,
): boolean {
  if (held === undefined) return false;
  if (isPathHolder(held)) return held.hasWords(words[2 * i] as number, words[2 * i + 1] as number);
  return held.has(keys[i] as BlockKey);
}

/** Create an empty speculative index. */
export function createSpeculativeIndex(options: SpeculativeIndexOptions): SpeculativeIndex {
  const ttl = options.ttlMs;
  if (!(ttl > 0)) throw new RangeError(`ttlMs must be > 0, got ${ttl}`);
  const cap = Math.max(1, Math.floor(options.maxBlocks));
  const perPod = Math.max(1, Math.floor(options.maxBlocksPerPod));
  const now = options.now ?? (() => performance.now());
  const recPod = new Int32Array(cap);
  const recLo = new Uint32Array(cap);
  const recHi = new Uint32Array(cap);
  const recExp = new Float64Array(cap);
  /** Fingerprint of the path each record's key ended when it was added (key-path.ts). */
  const recFp = new Uint32Array(cap);
  const podPrev = new Int32Array(cap);
  const podNext = new Int32Array(cap);
  /** 1 while the record is its entry's live one (hashed). */
  const hashed = new Uint8Array(cap);
  const index = new SlotHash(bucketsFor(cap), { owner: recPod, lo: recLo, hi: recHi });
  let head = 0;
  let count = 0;
  let live = 0;
  let overflowed = 0;
  const byKey = new Map<string, PodEntries>();
  const byId = new Map<number, PodEntries>();
  let nextId = 0;
  /** The pod `add` is filling: its list may empty for a moment, but its record must stay registered. */
  let filling: PodEntries | undefined;

  const forgetPod = (pod: PodEntries): void => {
    // Its records stay hashed under its id (never reused) until popped; they no longer count.
    live -= pod.size;
    byKey.delete(pod.podKey);
    byId.delete(pod.id);
  };

  /** Unhash a live record and take it out of its pod's list. */
  const unlive = (pod: PodEntries, slot: number): void => {
    index.remove(slot);
    hashed[slot] = 0;
    const p = podPrev[slot] as number;
    const n = podNext[slot] as number;
    if (p !== NIL) podNext[p] = n;
    else pod.head = n;
    if (n !== NIL) podPrev[n] = p;
    else pod.tail = p;
    pod.size--;
    live--;
  };

  /** Pop the ring's oldest record; drop its entry when still live. Returns whether an entry was dropped. */
  const popOldest = (): boolean => {
    const slot = head;
    head = head + 1 === cap ? 0 : head + 1;
    count--;
    if (hashed[slot] === 0) return false;
    const pod = byId.get(recPod[slot] as number);
    if (pod === undefined) {
      // A forgotten pod's record.
      index.remove(slot);
      hashed[slot] = 0;
      return false;
    }
    unlive(pod, slot);
    // Pods come and go (rollouts): an empty record is not kept around.
    if (pod.size === 0 && pod !== filling) forgetPod(pod);
    return true;
  };

  const expire = (t: number): void => {
    while (count > 0 && (recExp[head] as number) <= t) popOldest();
  };

  const drop = (podKey: string, key: bigint): void => {
    const pod = byKey.get(podKey);
    if (pod === undefined) return;
    const w = splitKey(key);
    const slot = index.find(pod.id, w[0] as number, w[1] as number);
    if (slot === NO_SLOT) return;
    pod.dropExp = Math.max(pod.dropExp, recExp[slot] as number);
    unlive(pod, slot);
    if (pod.size === 0) forgetPod(pod);
  };

  /** Whether the pod has a live entry for key i of `words`. */
  const holds = (pod: PodEntries | undefined, words: Uint32Array, i: number): boolean =>
    pod !== undefined && index.find(pod.id, words[2 * i] as number, words[2 * i + 1] as number) !== NO_SLOT;

  /**
   * Whether holding key i of a path, on that path, implies the pod holds the path's keys before it. Entries are
   * added last key first, so a key's predecessor is always newer than it, and age order (expiry, both bounds) takes
   * the key first; only a drop out of age order can leave it behind, and then only keys no newer than the dropped
   * one (expiry grows with insertion: an entry expiring later was added later).
   */
  const closedPath = (pod: PodEntries): boolean =>
    pod.head === NIL || (recExp[pod.head] as number) > pod.dropExp;

  /** The query of {@link onPath} (set per pod; match is synchronous). */
  const q: {
    words: Uint32Array;
    fps: Uint32Array;
    spec: PodEntries | undefined;
    held: PathHolder | undefined;
  } = {
    words: new Uint32Array(0),
    fps: new Uint32Array(0),
    spec: undefined,
    held: undefined,
  };
  /** Key i of the query held on the query's path by the sides known closed: monotone in i, so it can be searched. */
  const onPath = (i: number): boolean => {
    const lo = q.words[2 * i] as number;
    const hi = q.words[2 * i + 1] as number;
    const fp = q.fps[i] as number;
    if (q.spec !== undefined) {
      const s = index.find(q.spec.id, lo, hi);
      if (s !== NO_SLOT && recFp[s] === fp) return true;
    }
    return q.held !== undefined && q.held.hasOnPath(lo, hi, fp);
  };

  return {
    add(podKey, keys) {
      if (keys.length === 0) return;
      const t = now();
      expire(t);
      const exp = t + ttl;
      let pod = byKey.get(podKey);
      if (pod === undefined) {
        pod = { id: nextId++, podKey, size: 0, head: NIL, tail: NIL, dropExp: -Infinity };
        byKey.set(podKey, pod);
        byId.set(pod.id, pod);
      }
      const words = keyWords(keys);
      const fps = pathFingerprints(words, Math.min(keys.length, perPod));
      filling = pod;
      try {
        // Last block first: a prompt's leading blocks end up the newest, so the bounds drop its tail first. Keys
        // past the per-pod bound would be dropped by this same call: they are not looked at.
        const looked = Math.min(keys.length, perPod);
        overflowed += keys.length - looked;
        for (let i = looked - 1; i >= 0; i--) {
          const lo = words[2 * i] as number;
          const hi = words[2 * i + 1] as number;
          const known = index.find(pod.id, lo, hi);
          // A refresh keeps the key held; onto another path (never, for kvroute's chain keys) it only stops counting
          // for the search on the old one, and the exact walk after the search still counts it.
          if (known !== NO_SLOT) unlive(pod, known);
          else if (pod.size >= perPod && pod.head !== NIL) {
            unlive(pod, pod.head);
            overflowed++;
          }
          // A full ring holds no expired record (just expired above), so its head is the oldest live guess or stale.
          if (count === cap && popOldest()) overflowed++;
          const at = head + count < cap ? head + count : head + count - cap;
          recPod[at] = pod.id;
          recLo[at] = lo;
          recHi[at] = hi;
          recExp[at] = exp;
          recFp[at] = fps[i] as number;
          index.insert(at);
          hashed[at] = 1;
          podPrev[at] = pod.tail;
          podNext[at] = NIL;
          if (pod.tail !== NIL) podNext[pod.tail] = at;
          else pod.head = at;
          pod.tail = at;
          pod.size++;
          count++;
          live++;
        }
      } finally {
        filling = undefined;
      }
    },

    match(keys, podKeys, confirmed) {
      const out = new Map<string, number>();
      const n = keys.length;
      if (n === 0) return out;
      if (count > 0) expire(now());
      const words = keyWords(keys);
      let fps: Uint32Array | undefined;
      let guess = n;
      for (const podKey of podKeys) {
        const held = confirmed(podKey);
        const found = live > 0 ? byKey.get(podKey) : undefined;
        const spec = found !== undefined && found.size > 0 ? found : undefined;
        if (spec === undefined && held === undefined) continue;
        const path = held !== undefined && isPathHolder(held) ? held : undefined;
        // Each side known closed is searched (the union of two closed sets is closed); the other is walked below.
        const specSearch = spec === undefined || closedPath(spec);
        const heldSearch = held === undefined || (path !== undefined && path.closed());
        let run = 0;
        if (specSearch || heldSearch) {
          fps ??= pathFingerprints(words, n).slice(0, n);
          q.words = words;
          q.fps = fps;
          q.spec = specSearch ? spec : undefined;
          q.held = heldSearch ? path : undefined;
          run = firstMissing(n, guess, onPath);
          guess = run;
        }
        // The exact walk, from what the search proved held: keys held off the query's path, or past a side whose
        // closure is not known.
        while (run < n && (holds(spec, words, run) || heldHas(held, keys, words, run))) run++;
        if (run > 0) out.set(podKey, run);
      }
      return out;
    },

    // BlockStored confirms the block: the event index now answers for it, the guess is redundant.
    stored: drop,
    removed: drop,
    // Dropping needs a live entry of the pod (expired ones still count: cheap, and dropping them is harmless).
    tracks: (podKey) => live > 0 && (byKey.get(podKey)?.size ?? 0) > 0,
    cleared(podKey) {
      const pod = byKey.get(podKey);
      if (pod !== undefined) forgetPod(pod);
    },

    blocks(podKey) {
      if (count > 0) expire(now());
      return byKey.get(podKey)?.size ?? 0;
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

/**
 * The event index as strategies see it with speculation on: `match` counts a block held by the event index or
 * speculatively (a pod without speculative entries is matched by the event index alone, which is the same answer
 * at a cost independent of how many pods hold the prompt); `blocks` is the event index's alone; `dropPod` goes to
 * the event index, which tells `speculative`.
 */
export function withSpeculation(
  events: PrefixIndex & { holder(podKey: string): BlockHolder | undefined },
  speculative: SpeculativeIndex,
): PrefixIndex {
  const holder = (podKey: string): BlockHolder | undefined => events.holder(podKey);
  return {
    match(keys, podKeys) {
      // Pods with no speculative entry get the event index's own match; the others the union match, which searches
      // too while each side's closure is known (see `match` above).
      if (speculative.size() === 0) return events.match(keys, podKeys);
      const guessed: string[] = [];
      const plain: string[] = [];
      for (const pod of podKeys) (speculative.blocks(pod) > 0 ? guessed : plain).push(pod);
      if (guessed.length === 0) return events.match(keys, podKeys);
      const out = events.match(keys, plain);
      for (const [pod, n] of speculative.match(keys, guessed, holder)) out.set(pod, n);
      return out;
    },
    blocks: (podKey) => events.blocks(podKey),
    dropPod: (podKey) => events.dropPod(podKey),
  };
}
