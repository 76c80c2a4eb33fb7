/**
 * BENCHMARK BASELINE ONLY: the event index as it was before issue 12 (per-pod `Map<bigint, slot>`), kept so
 * `npm run bench -- kv` compares the typed-array index with it in the same run. Not used by kvroute.
 *
 * The event index: which blocks each vLLM pod reported caching over ZeroMQ (`BlockStored` / `BlockRemoved` /
 * `AllBlocksCleared`). It does not reproduce vLLM's block hash (llm-d and AIBrix do not either): for each
 * stored block it computes kvroute's own key from the event's `token_ids`, anchored at kvroute's key of
 * `parent_block_hash`, and keeps per pod an `engineHash → ownKey` map so removals resolve. Prompts then match
 * on the same keys the director computes for them (`PreparedPrompt.keys(blockSize)`).
 *
 * Not covered: vLLM extra keys other than the LoRA name (multimodal items, `cache_salt`, prompt embeddings): such
 * blocks are indexed under their token-only key, so a salted tenant's blocks can look shared to kvroute.
 *
 * @module
 */
import type { BlockHasher } from "../src/prefix/block-key";
import type {
  BlockHolder,
  BlockListener,
  KvEventSink,
  PrefixIndex,
  StoredBlocks,
} from "../src/prefix/prefix-index";
import { NIL, SlotLru } from "./slot-lru-baseline";

/** Options of {@link createEventIndex}. */
export interface EventIndexOptions {
  /** The hasher the director uses for prompts (same seed), so stored blocks and prompts share keys. */
  readonly hasher: BlockHasher;
  /** Most engine blocks across all pods (≥ 1); beyond it the least recently stored block is forgotten. */
  readonly maxBlocks: number;
  /**
   * Told about every stored and removed block and every cleared or dropped pod (the speculative index). Not told
   * about blocks this index forgets to its own `maxBlocks` bound: that is kvroute's memory limit, not the engine's.
   */
  readonly listener?: BlockListener;
}

/** Per-pod counters of {@link EventIndex.stats}. Counters are cumulative since the pod's last `dropPod`. */
export interface EventIndexPodStats {
  /** Engine blocks currently indexed. */
  readonly blocks: number;
  /** Blocks skipped because their event's `parentBlockHash` was given but unknown (chain could not be anchored). */
  readonly unanchored: number;
  /** `BlockRemoved` hashes that were not indexed (never seen, already evicted, or already removed). */
  readonly unknownRemovals: number;
  /** Blocks of this pod evicted by the global bound. */
  readonly evicted: number;
  /** Blocks skipped because the event carried fewer than `blockHashes.length × blockSize` token ids. */
  readonly malformed: number;
}

/** The event index: read side for strategies, write side for the KV-event subscriber. */
export interface EventIndex extends PrefixIndex, KvEventSink {
  /** Counters for a pod (all zero for an unknown pod). */
  stats(podKey: string): EventIndexPodStats;
  /** Block size of the pod's last `BlockStored` event; undefined before the first one. */
  blockSize(podKey: string): number | undefined;
  /** Engine blocks across all pods. */
  size(): number;
  /** Blocks evicted by the global bound, across pods, since creation. */
  evictions(): number;
  /** The pod's indexed keys (kvroute's), for an index that matches on top of this one; undefined when none. */
  holder(podKey: string): BlockHolder | undefined;
}

interface PodState {
  readonly id: number;
  /** Engine hash → slot (the slot's aux is kvroute's key of the block). */
  readonly engine: Map<bigint, number>;
  /** kvroute key → number of engine blocks with that key (two engine hashes can share one: extra keys). */
  readonly own: Map<bigint, number>;
  blockSize: number | undefined;
  unanchored: number;
  unknownRemovals: number;
  evicted: number;
  malformed: number;
}

const ZERO_STATS: EventIndexPodStats = Object.freeze({
  blocks: 0,
  unanchored: 0,
  unknownRemovals: 0,
  evicted: 0,
  malformed: 0,
});

/** Create an empty event index. */
export function createEventIndex(options: EventIndexOptions): EventIndex {
  const { hasher, listener } = options;
  const lru = new SlotLru(Math.max(1, Math.floor(options.maxBlocks)));
  const byKey = new Map<string, PodState>();
  const byId = new Map<number, PodState>();
  let nextId = 0;
  let evictedTotal = 0;

  const podFor = (podKey: string): PodState => {
    let pod = byKey.get(podKey);
    if (!pod) {
      pod = {
        id: nextId++,
        engine: new Map(),
        own: new Map(),
        blockSize: undefined,
        unanchored: 0,
        unknownRemovals: 0,
        evicted: 0,
        malformed: 0,
      };
      byKey.set(podKey, pod);
      byId.set(pod.id, pod);
    }
    return pod;
  };

  const unref = (pod: PodState, ownKey: bigint): void => {
    const n = pod.own.get(ownKey) ?? 0;
    if (n <= 1) pod.own.delete(ownKey);
    else pod.own.set(ownKey, n - 1);
  };

  /** Forget one engine block of `pod` held in `slot`. */
  const removeSlot = (pod: PodState, engineHash: bigint, slot: number): void => {
    unref(pod, lru.aux(slot));
    pod.engine.delete(engineHash);
    lru.release(slot);
  };

  const evictOldest = (): void => {
    const slot = lru.oldest();
    if (slot === NIL) return;
    const pod = byId.get(lru.pod(slot));
    if (pod) {
      removeSlot(pod, lru.key(slot), slot);
      pod.evicted++;
    } else {
      lru.release(slot);
    }
    evictedTotal++;
  };

  const clear = (pod: PodState): void => {
    for (const slot of pod.engine.values()) lru.release(slot);
    pod.engine.clear();
    pod.own.clear();
  };

  return {
    blockStored(podKey, event: StoredBlocks) {
      const pod = podFor(podKey);
      const count = event.blockHashes.length;
      if (count === 0 || !Number.isInteger(event.blockSize) || event.blockSize <= 0) return;
      pod.blockSize = event.blockSize;
      let anchor: bigint | undefined;
      const parent = event.parentBlockHash;
      if (parent !== undefined && parent !== null) {
        const slot = pod.engine.get(parent);
        if (slot === undefined) {
          pod.unanchored += count;
          return;
        }
        anchor = lru.aux(slot);
      }
      const own = hasher.chain(event.tokenIds, event.blockSize, event.loraName ?? "", anchor);
      const n = Math.min(count, own.length);
      pod.malformed += count - n;
      // Last block first: the first blocks of a chain become the most recent and are evicted last.
      for (let i = n - 1; i >= 0; i--) {
        const engineHash = event.blockHashes[i] as bigint;
        const ownKey = own[i] as bigint;
        listener?.stored(podKey, ownKey);
        const slot = pod.engine.get(engineHash);
        if (slot !== undefined) {
          if (lru.aux(slot) === ownKey) {
            lru.touch(slot);
            continue;
          }
          removeSlot(pod, engineHash, slot);
        }
        if (lru.full) evictOldest();
        pod.engine.set(engineHash, lru.alloc(pod.id, engineHash, ownKey));
        pod.own.set(ownKey, (pod.own.get(ownKey) ?? 0) + 1);
      }
    },

    blockRemoved(podKey, blockHashes) {
      const pod = podFor(podKey);
      for (const h of blockHashes) {
        const slot = pod.engine.get(h);
        if (slot === undefined) {
          pod.unknownRemovals++;
        } else {
          listener?.removed(podKey, lru.aux(slot));
          removeSlot(pod, h, slot);
        }
      }
    },

    allBlocksCleared(podKey) {
      listener?.cleared(podKey);
      const pod = byKey.get(podKey);
      if (pod) clear(pod);
    },

    dropPod(podKey) {
      listener?.cleared(podKey);
      const pod = byKey.get(podKey);
      if (!pod) return;
      clear(pod);
      byKey.delete(podKey);
      byId.delete(pod.id);
    },

    match(keys, podKeys) {
      const out = new Map<string, number>();
      if (keys.length === 0) return out;
      for (const podKey of podKeys) {
        const pod = byKey.get(podKey);
        if (!pod || pod.own.size === 0) continue;
        let n = 0;
        while (n < keys.length && pod.own.has(keys[n] as bigint)) n++;
        if (n > 0) out.set(podKey, n);
      }
      return out;
    },

    blocks: (podKey) => byKey.get(podKey)?.engine.size ?? 0,

    holder(podKey) {
      const own = byKey.get(podKey)?.own;
      return own === undefined || own.size === 0 ? undefined : own;
    },

    stats(podKey) {
      const pod = byKey.get(podKey);
      if (!pod) return ZERO_STATS;
      const { unanchored, unknownRemovals, evicted, malformed } = pod;
      return { blocks: pod.engine.size, unanchored, unknownRemovals, evicted, malformed };
    },

    blockSize: (podKey) => byKey.get(podKey)?.blockSize,
    size: () => lru.size,
    evictions: () => evictedTotal,
  };
}
