/**
 * BENCHMARK BASELINE ONLY: the approximate index as it was before issue 12 (per-pod `Map<bigint, slot>`), kept so
 * `npm run bench -- kv` compares the typed-array index with it in the same run. Not used by kvroute.
 *
 * The approximate prefix index: which blocks kvroute itself sent to each pod (AIBrix's "optimistic" table). It
 * records what was routed, not what the engine kept, so it is bounded: a global LRU over every (pod, block) entry
 * and a per-pod bound — the pod's `num_gpu_blocks` when its engine has said so recently (beyond it the engine must
 * have evicted), else a fixed fallback. Never unbounded: a pod whose metrics went stale keeps a finite bound.
 *
 * Work per call is bounded whatever the prompt: `add` touches at most the pod's bound of keys (the first ones: a
 * longer prompt's tail could not stay cached anyway), evicts in O(1) each (a per-pod chain in {@link SlotLru}, no
 * `Map` iteration), and trims a pod whose bound shrank on its next `add`; `match` stops at the first miss, so it
 * reads at most min(keys, pod entries + 1) per pod.
 *
 * Memory: per pod a `Map<bigint, slot>`; per entry one map entry with its bigint key plus 36 bytes of typed-array
 * lists ({@link SlotLru} with chains). Measured (Node 20, 400 000 blocks over 8 pods, heap + array buffers after
 * GC): about 89 bytes per block before the chains, i.e. about 18 MB for AIBrix's 200 000-block default.
 *
 * @module
 */
import type { BlockKey } from "../src/prefix/block-key";
import type { PrefixIndex } from "../src/prefix/prefix-index";
import type { SlotChain } from "./slot-lru-baseline";
import { NIL, SlotLru, emptyChain } from "./slot-lru-baseline";

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

interface PodEntries {
  readonly id: number;
  readonly key: string;
  /** Block key → slot. Never iterated: order lives in `chain`. */
  readonly slots: Map<bigint, number>;
  /** This pod's entries, least recent first. */
  readonly chain: SlotChain;
}

/** Create an empty approximate index. */
export function createApproximateIndex(options: ApproximateIndexOptions): ApproximateIndex {
  const maxBlocks = Math.max(1, Math.floor(options.maxBlocks));
  const fallback = Math.max(1, Math.floor(options.fallbackPerPodMaxBlocks ?? maxBlocks));
  const lru = new SlotLru(maxBlocks, true);
  const byKey = new Map<string, PodEntries>();
  const byId = new Map<number, PodEntries>();
  let nextId = 0;
  let evicted = 0;
  let tickets = 0;

  const remove = (pod: PodEntries, key: bigint, slot: number): void => {
    pod.slots.delete(key);
    lru.release(slot, pod.chain);
  };

  const evictOldest = (): void => {
    const slot = lru.oldest();
    if (slot === NIL) return;
    const pod = byId.get(lru.pod(slot));
    if (pod) remove(pod, lru.key(slot), slot);
    else lru.release(slot);
    evicted++;
  };

  const podFor = (podKey: string): PodEntries => {
    let pod = byKey.get(podKey);
    if (!pod) {
      pod = { id: nextId++, key: podKey, slots: new Map(), chain: emptyChain() };
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

  return {
    add(podKey, keys) {
      const ticket = ++tickets;
      if (keys.length === 0) return ticket;
      const pod = podFor(podKey);
      const podMax = boundOf(podKey);
      // The bound may have shrunk (metrics came back with a smaller engine, or went stale): trim first.
      while (pod.chain.size > podMax) {
        remove(pod, lru.key(pod.chain.head), pod.chain.head);
        evicted++;
      }
      const aux = BigInt(ticket);
      // Last block first, so a prompt's first blocks end up the most recent and are evicted last (as an engine
      // evicts leaves before the prefix they extend); a partially evicted prompt then still matches its head.
      // Keys past the bound would be evicted by this same call: they are not looked at.
      for (let i = Math.min(keys.length, podMax) - 1; i >= 0; i--) {
        const key = keys[i] as bigint;
        const slot = pod.slots.get(key);
        if (slot !== undefined) {
          // A known entry keeps the ticket of the add that created it: a failure of this request says nothing
          // about what an earlier one left cached (a conversation's previous turns).
          lru.touch(slot, pod.chain);
          continue;
        }
        if (pod.chain.size >= podMax) {
          remove(pod, lru.key(pod.chain.head), pod.chain.head);
          evicted++;
        }
        if (lru.full) evictOldest();
        pod.slots.set(key, lru.alloc(pod.id, key, aux, pod.chain));
      }
      return ticket;
    },

    forget(podKey, keys, ticket) {
      const pod = byKey.get(podKey);
      if (!pod) return 0;
      const aux = BigInt(ticket);
      let removed = 0;
      const n = Math.min(keys.length, maxBlocks);
      for (let i = 0; i < n && pod.chain.size > 0; i++) {
        const key = keys[i] as bigint;
        const slot = pod.slots.get(key);
        if (slot === undefined || lru.aux(slot) !== aux) continue;
        remove(pod, key, slot);
        removed++;
      }
      return removed;
    },

    match(keys, podKeys) {
      const out = new Map<string, number>();
      if (keys.length === 0) return out;
      for (const podKey of podKeys) {
        const pod = byKey.get(podKey);
        if (!pod || pod.chain.size === 0) continue;
        let n = 0;
        while (n < keys.length && pod.slots.has(keys[n] as bigint)) n++;
        if (n > 0) out.set(podKey, n);
      }
      return out;
    },

    blocks: (podKey) => byKey.get(podKey)?.chain.size ?? 0,

    dropPod(podKey) {
      const pod = byKey.get(podKey);
      if (!pod) return;
      // Walk the pod's chain (its live entries only), not the map.
      for (let slot = pod.chain.head; slot !== NIL;) {
        const next = lru.chainAfter(slot);
        lru.release(slot, pod.chain);
        slot = next;
      }
      byKey.delete(podKey);
      byId.delete(pod.id);
    },

    evictions: () => evicted,
    size: () => lru.size,
  };
}
