/**
 * The approximate prefix index: which blocks kvroute itself sent to each pod (AIBrix's "optimistic" table). It
 * records what was routed, not what the engine kept, so it is bounded: a global LRU over every (pod, block) entry
 * and a per-pod bound — the pod's `num_gpu_blocks` when its engine has said so recently (beyond it the engine must
 * have evicted), else a fixed fallback. Never unbounded: a pod whose metrics went stale keeps a finite bound.
 *
 * Cost follows the prompt, not the fleet. Entries live in typed arrays ({@link ChainEntries}: ~56 bytes each, no
 * `BigInt` on any path) and are linked into the prompt chains that created them. A pod whose held set is closed
 * under "the block before" (the normal case: `add` makes a chain's parent more recent than its children, so the
 * recency bounds only evict leaves) holds a run of a prompt iff it holds the run's last block on the same path, so
 * `match` finds each pod's run by a search ({@link firstMissing}) started from the previous pod's answer: two
 * hash lookups per pod when pods agree, O(log blocks) otherwise — a 128k-token prompt held by 1000 pods costs one
 * pass over its keys (their path fingerprints) plus ~2000 lookups. A pod with orphans (a `forget` removed a block
 * whose children stay) or a key reached by another path is walked block by block, exactly as before.
 *
 * `add` looks at most the pod's bound of keys (the first ones: a longer prompt's tail could not stay cached
 * anyway), finds the run the pod already holds by the same search and collects it through the chain links, creates
 * only the missing blocks (evicting in O(1) each), then makes the prompt's blocks the most recent with its first
 * block last. A pod whose bound shrank is trimmed on its next `add`.
 *
 * @module
 */
import type { BlockKey } from "./block-key";
import type { ChainPod } from "./chain-entries";
import { ChainEntries, NIL } from "./chain-entries";
import { firstMissing, keyWords, pathFingerprints } from "./key-path";
import type { PrefixIndex } from "./prefix-index";
import { NO_SLOT } from "./slot-hash";

/** Options of {@link createApproximateIndex}. */
export interface ApproximateIndexOptions {
  /** Most (pod, block) entries across all pods (≥ 1). */
  readonly maxBlocks: number;
  /** A pod's own bound (e.g. its engine's fresh `num_gpu_blocks`); undefined = unknown, the fallback applies. */
  readonly perPodMaxBlocks?: (podKey: string) => number | undefined;
  /** A pod's bound while `perPodMaxBlocks` knows none (≥ 1); default `maxBlocks`. */
  readonly fallbackPerPodMaxBlocks?: number;
}

/** Identifies one `add` call, so its entries can be taken back ({@link ApproximateIndex.forget}). */
export type AddTicket = number;

/** The approximate index: {@link PrefixIndex} plus the write side the routing path uses. */
export interface ApproximateIndex extends PrefixIndex {
  /**
   * Record that `keys` (a prompt's chain, first block first) were sent to `podKey`: new keys are added, known ones
   * become the most recent. Only the first `bound(pod)` keys are looked at. Returns this call's ticket.
   */
  add(podKey: string, keys: ArrayLike<BlockKey>): AddTicket;
  /**
   * Take back what the `add` with `ticket` created for `podKey` (the request failed: the engine did not cache the
   * prompt): each of `keys` that this `add` inserted, and that has not been evicted since, is removed; entries it
   * only refreshed stay. Returns how many entries were removed.
   */
  forget(podKey: string, keys: ArrayLike<BlockKey>, ticket: AddTicket): number;
  /** Entries evicted by the global and per-pod bounds since creation. */
  evictions(): number;
  /** Entries across all pods. */
  size(): number;
}

/** Reused per-`add` slot list (one allocation per process, grown to the longest prompt seen). */
let addSlots = new Int32Array(1024);

/** Create an empty approximate index. */
export function createApproximateIndex(options: ApproximateIndexOptions): ApproximateIndex {
  const maxBlocks = Math.max(1, Math.floor(options.maxBlocks));
  const fallback = Math.max(1, Math.floor(options.fallbackPerPodMaxBlocks ?? maxBlocks));
  const entries = new ChainEntries(maxBlocks);
  const byKey = new Map<string, ChainPod>();
  const byId = new Map<number, ChainPod>();
  let nextId = 0;
  let evicted = 0;
  let tickets = 0;

  // The query `held` reads: set before each search (one closure per index, not per call).
  let qPod = 0;
  let qWords: Uint32Array = new Uint32Array(0);
  let qFps: Uint32Array = new Uint32Array(0);
  /** Whether the pod holds key i on the query's own path (a prefix-closed pod then holds keys 0..i−1 too). */
  const heldOnPath = (i: number): boolean => {
    const s = entries.find(qPod, qWords[2 * i] as number, qWords[2 * i + 1] as number);
    return s !== NO_SLOT && entries.isLive(s) && entries.fp[s] === qFps[i];
  };
  /** Whether the pod holds key i at all (the exact walk's test). */
  const heldKey = (pod: number, words: Uint32Array, i: number): boolean => {
    const s = entries.find(pod, words[2 * i] as number, words[2 * i + 1] as number);
    return s !== NO_SLOT && entries.isLive(s);
  };
  const closed = (pod: ChainPod): boolean => pod.orphans === 0 && !pod.conflicted;

  const evictPodOldest = (pod: ChainPod): void => {
    entries.remove(pod, pod.head);
    evicted++;
  };

  const evictOldest = (): void => {
    const slot = entries.oldest();
    if (slot === NIL) return;
    const pod = byId.get(entries.owner[slot] as number);
    if (pod === undefined) throw new Error("approximate index: entry of an unknown pod");
    entries.remove(pod, slot);
    evicted++;
  };

  const podFor = (podKey: string): ChainPod => {
    let pod = byKey.get(podKey);
    if (!pod) {
      pod = { id: nextId++, key: podKey, size: 0, head: NIL, tail: NIL, orphans: 0, conflicted: false };
      byKey.set(podKey, pod);
      byId.set(pod.id, pod);
    }
    return pod;
  };

  /** The pod's bound now: its engine's when known and sane, else the fallback; never above the global bound. */
  const boundOf = (podKey: string): number => {
    const known = options.perPodMaxBlocks?.(podKey);
    const bound = known !== undefined && Number.isFinite(known) && known >= 1 ? Math.floor(known) : fallback;
    return Math.min(bound, maxBlocks);
  };

  /**
   * Fill `slots[0..m)` with the live entries of the keys the pod already holds (each taken out of the recency
   * lists, so no eviction of this `add` can take them) and NO_SLOT for the others.
   */
  const collectHeld = (
    pod: ChainPod,
    words: Uint32Array,
    fps: Uint32Array,
    m: number,
    slots: Int32Array,
  ): void => {
    if (closed(pod)) {
      qPod = pod.id;
      qWords = words;
      qFps = fps;
      const run = firstMissing(m, m, heldOnPath);
      // The rest must be missing (they are, for hash-chain keys): one held on another path must be kept out of
      // this add's evictions like the run, so such a prompt takes the exact path below.
      let j = run;
      for (; j < m && !heldKey(pod.id, words, j); j++) slots[j] = NO_SLOT;
      if (j === m) {
        // The run's entries, last to first, through the parent links (no lookups).
        const last = run - 1;
        let s =
          run > 0 ? entries.find(pod.id, words[2 * last] as number, words[2 * last + 1] as number) : NO_SLOT;
        let i = last;
        for (; i >= 0 && s !== NO_SLOT; i--) {
          slots[i] = s;
          entries.detach(pod, s);
          s = entries.parent[s] as number;
        }
        // A closed pod's chain ends exactly at the prompt's first block; otherwise look every key up below.
        if (i === -1 && s === NO_SLOT) return;
      }
    }
    for (let i = 0; i < m; i++) {
      const s = entries.find(pod.id, words[2 * i] as number, words[2 * i + 1] as number);
      if (s === NO_SLOT || !entries.isLive(s)) {
        slots[i] = NO_SLOT;
        continue;
      }
      if (entries.fp[s] !== fps[i]) pod.conflicted = true;
      entries.detach(pod, s);
      slots[i] = s;
    }
  };

  return {
    add(podKey, keys) {
      const ticket = ++tickets;
      if (keys.length === 0) return ticket;
      const pod = podFor(podKey);
      const podMax = boundOf(podKey);
      // The bound may have shrunk (metrics came back with a smaller engine, or went stale): trim first.
      while (pod.size > podMax) evictPodOldest(pod);
      // Keys past the bound would be evicted by this same call: they are not looked at.
      const m = Math.min(keys.length, podMax);
      const words = keyWords(keys);
      const fps = pathFingerprints(words, m);
      if (addSlots.length < m) addSlots = new Int32Array(Math.max(m, addSlots.length * 2));
      const slots = addSlots;
      collectHeld(pod, words, fps, m, slots);
      // Missing blocks, first to last, so each links to the entry before it. The held ones are out of the lists,
      // so the bounds evict other entries (the least recent) — never this prompt's.
      for (let i = 0; i < m; i++) {
        if (slots[i] !== NO_SLOT) continue;
        const lo = words[2 * i] as number;
        const hi = words[2 * i + 1] as number;
        let s = entries.find(pod.id, lo, hi);
        if (s !== NO_SLOT && entries.isLive(s)) {
          // A key repeated within the prompt (created above): not a hash chain.
          pod.conflicted = true;
          slots[i] = s;
          continue;
        }
        const parent = i > 0 ? (slots[i - 1] as number) : NO_SLOT;
        if (s === NO_SLOT) {
          // Straight into the bucket the lookup stopped at (nothing has changed the table since).
          s = entries.createAfterMiss(pod, lo, hi, fps[i] as number, ticket, parent);
        } else {
          if (entries.fp[s] !== fps[i]) pod.conflicted = true;
          entries.revive(pod, s, ticket, parent);
        }
        slots[i] = s;
        // Make room after placing the block (one over the bound for a moment): it is detached, so the bounds take
        // the same least recent entries they would have taken before it was placed.
        if (pod.size > podMax) evictPodOldest(pod);
        if (entries.live > maxBlocks) evictOldest();
      }
      // Last block first, so a prompt's first blocks end up the most recent and are evicted last (as an engine
      // evicts leaves before the prefix they extend); a partially evicted prompt then still matches its head.
      for (let i = m - 1; i >= 0; i--) entries.touch(pod, slots[i] as number);
      return ticket;
    },

    forget(podKey, keys, ticket) {
      const pod = byKey.get(podKey);
      if (!pod) return 0;
      const words = keyWords(keys);
      let removed = 0;
      // Last block first: children go before their parents, so no zombie is made for a parent removed here too.
      for (let i = Math.min(keys.length, maxBlocks) - 1; i >= 0 && pod.size > 0; i--) {
        const s = entries.find(pod.id, words[2 * i] as number, words[2 * i + 1] as number);
        if (s === NO_SLOT || !entries.isLive(s) || entries.ticket[s] !== ticket) continue;
        entries.remove(pod, s);
        removed++;
      }
      return removed;
    },

    match(keys, podKeys) {
      const out = new Map<string, number>();
      const n = keys.length;
      if (n === 0) return out;
      const words = keyWords(keys);
      let fps: Uint32Array | undefined;
      let guess = n;
      for (const podKey of podKeys) {
        const pod = byKey.get(podKey);
        if (!pod || pod.size === 0) continue;
        let run = 0;
        if (closed(pod)) {
          fps ??= pathFingerprints(words, n);
          qPod = pod.id;
          qWords = words;
          qFps = fps;
          run = firstMissing(n, guess, heldOnPath);
          guess = run;
        }
        // The exact walk: from 0 for a pod that is not prefix-closed; past the run when its next key is held on
        // another path (never, for hash-chain keys).
        while (run < n && heldKey(pod.id, words, run)) run++;
        if (run > 0) out.set(podKey, run);
      }
      return out;
    },

    blocks: (podKey) => byKey.get(podKey)?.size ?? 0,

    dropPod(podKey) {
      const pod = byKey.get(podKey);
      if (!pod) return;
      // Walk the pod's recency list (its live entries only); its zombies go with their last live child.
      while (pod.head !== NIL) entries.remove(pod, pod.head);
      byKey.delete(podKey);
      byId.delete(pod.id);
    },

    evictions: () => evicted,
    size: () => entries.live,
  };
}
