/**
 * The event index: which blocks each vLLM pod reported caching over ZeroMQ (`BlockStored` / `BlockRemoved` /
 * `AllBlocksCleared`). It does not reproduce vLLM's block hash (llm-d and AIBrix do not either): for each
 * stored block it computes kvroute's own key from the event's `token_ids`, anchored at kvroute's key of
 * `parent_block_hash`, and keeps per pod an engine hash → own key record so removals resolve. Prompts then match
 * on the same keys the director computes for them (`PreparedPrompt.keys(blockSize)`).
 *
 * Records live in typed arrays ({@link EventEntries}, 56 bytes a block, no `BigInt` kept) and are linked into the
 * chain of the event that stored them (block i to block i−1, block 0 to the anchor). A pod without orphans (no
 * parent removed under a live child) holds a prompt's run iff it holds the run's last block on the same path, so
 * `match` searches each pod from the previous pod's answer, as the approximate index does: the cost follows the
 * prompt, not the number of pods holding it. A pod with orphans is walked block by block, exactly as before.
 *
 * Not covered: vLLM extra keys other than the LoRA name (multimodal items, `cache_salt`, prompt embeddings): such
 * blocks are indexed under their token-only key, so a salted tenant's blocks can look shared to kvroute.
 *
 * @module
 */
import type { BlockHasher } from "./block-key";
import type { EventPod } from "./event-entries";
import { EventEntries, NIL } from "./event-entries";
import { ROOT_FINGERPRINT, firstMissing, keyWords, pathFingerprints, splitKey } from "./key-path";
import type { BlockListener, KvEventSink, PathHolder, PrefixIndex, StoredBlocks } from "./prefix-index";
import { repeatsHash } from "./repeated-hash";
import { NO_SLOT } from "./slot-hash";

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
  /**
   * Blocks skipped because the event carried fewer than `blockHashes.length × blockSize` token ids, or repeated a
   * block hash (the whole event is refused).
   */
  readonly malformed: number;
  /** Blocks stored without a place in the index's hashes (one block's content stored thousands of times; see `EventPod`). */
  readonly crowded: number;
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
  holder(podKey: string): PathHolder | undefined;
}

/** Per-pod state: the store's part plus counters. Counters are cumulative since the pod's last `dropPod`. */
interface PodState extends EventPod {
  blockSize: number | undefined;
  unanchored: number;
  unknownRemovals: number;
  evicted: number;
  malformed: number;
  holder: PathHolder | undefined;
}

const ZERO_STATS: EventIndexPodStats = Object.freeze({
  blocks: 0,
  unanchored: 0,
  unknownRemovals: 0,
  evicted: 0,
  malformed: 0,
  crowded: 0,
});

/** Reused per-event buffers (one allocation per process, grown to the longest event seen). */
let eventSlots = new Int32Array(256);
let engineHashes = new BigUint64Array(256);

/** The engine hashes' words (a view over shared scratch, valid until the next call). */
function engineWords(hashes: readonly bigint[], n: number): Uint32Array {
  if (engineHashes.length < n) engineHashes = new BigUint64Array(Math.max(n, engineHashes.length * 2));
  for (let i = 0; i < n; i++) engineHashes[i] = hashes[i] as bigint;
  return new Uint32Array(engineHashes.buffer, 0, 2 * n);
}

/** Create an empty event index. */
export function createEventIndex(options: EventIndexOptions): EventIndex {
  const { hasher, listener } = options;
  const maxBlocks = Math.max(1, Math.floor(options.maxBlocks));
  const entries = new EventEntries(maxBlocks);
  const byKey = new Map<string, PodState>();
  const byId = new Map<number, PodState>();
  let nextId = 0;
  let evictedTotal = 0;

  let qPod = 0;
  let qWords: Uint32Array = new Uint32Array(0);
  let qFps: Uint32Array = new Uint32Array(0);
  const heldOnPath = (i: number): boolean => {
    const s = entries.findOwn(qPod, qWords[2 * i] as number, qWords[2 * i + 1] as number);
    return s !== NO_SLOT && entries.fp[s] === qFps[i];
  };

  const holderOf = (pod: PodState): PathHolder => {
    const id = pod.id;
    return {
      has(key) {
        const w = splitKey(key);
        return entries.findOwn(id, w[0] as number, w[1] as number) !== NO_SLOT;
      },
      closed: () => pod.orphans === 0,
      hasWords: (lo, hi) => entries.findOwn(id, lo, hi) !== NO_SLOT,
      hasOnPath(lo, hi, fp) {
        const s = entries.findOwn(id, lo, hi);
        return s !== NO_SLOT && entries.fp[s] === fp;
      },
    };
  };

  const podFor = (podKey: string): PodState => {
    let pod = byKey.get(podKey);
    if (!pod) {
      const id = nextId++;
      pod = {
        id,
        size: 0,
        orphans: 0,
        crowded: 0,
        blockSize: undefined,
        unanchored: 0,
        unknownRemovals: 0,
        evicted: 0,
        malformed: 0,
        holder: undefined,
      };
      pod.holder = holderOf(pod);
      byKey.set(podKey, pod);
      byId.set(pod.id, pod);
    }
    return pod;
  };

  const evictOldest = (): void => {
    const slot = entries.oldest();
    if (slot === NIL) return;
    const pod = byId.get(entries.owner[slot] as number);
    if (pod === undefined) throw new Error("event index: record of an unknown pod");
    entries.remove(pod, slot);
    pod.evicted++;
    evictedTotal++;
  };

  /** Whether record `s` holds own key i of `own`. */
  const sameOwn = (s: number, own: Uint32Array, i: number): boolean =>
    entries.ownLo[s] === own[2 * i] && entries.ownHi[s] === own[2 * i + 1];

  return {
    blockStored(podKey, event: StoredBlocks) {
      const pod = podFor(podKey);
      const count = event.blockHashes.length;
      if (count === 0 || !Number.isInteger(event.blockSize) || event.blockSize <= 0) return;
      pod.blockSize = event.blockSize;
      let anchor: bigint | undefined;
      let anchorSlot = NO_SLOT;
      let startFp = ROOT_FINGERPRINT;
      const parent = event.parentBlockHash;
      if (parent !== undefined && parent !== null) {
        const w = splitKey(parent);
        anchorSlot = entries.findEngine(pod.id, w[0] as number, w[1] as number);
        if (anchorSlot === NO_SLOT) {
          pod.unanchored += count;
          return;
        }
        anchor = entries.ownKey(anchorSlot);
        startFp = entries.fp[anchorSlot] as number;
      }
      const ownKeys = hasher.chain(event.tokenIds, event.blockSize, event.loraName ?? "", anchor);
      const n = Math.min(count, ownKeys.length);
      pod.malformed += count - n;
      if (n === 0) return;
      const own = keyWords(ownKeys);
      const fps = pathFingerprints(own, n, startFp);
      const eng = engineWords(event.blockHashes, n);
      // vLLM never repeats a block hash within one event (each is a chain over the ones before it). An event that
      // does is refused whole, before anything changes, and counted as malformed: linking a repeated block under
      // itself would leave a record that is its own parent.
      if (repeatsHash(eng, n)) {
        pod.malformed += n;
        return;
      }
      if (eventSlots.length < n) eventSlots = new Int32Array(Math.max(n, eventSlots.length * 2));
      const slots = eventSlots;
      // Blocks past the global bound would be evicted by this same event (its first blocks are the most recent).
      const kept = Math.min(n, maxBlocks);
      entries.warm(pod.id, eng, own, kept, Math.max(0, entries.live + kept - maxBlocks));
      for (let i = kept; i < n; i++) {
        const s = entries.findEngine(pod.id, eng[2 * i] as number, eng[2 * i + 1] as number);
        if (s !== NO_SLOT) entries.remove(pod, s);
        pod.evicted++;
        evictedTotal++;
      }
      // Known blocks with the same key are kept out of this event's evictions (they end up the most recent).
      for (let i = 0; i < kept; i++) {
        const s = entries.findEngine(pod.id, eng[2 * i] as number, eng[2 * i + 1] as number);
        slots[i] = NO_SLOT;
        if (s === NO_SLOT) continue;
        if (sameOwn(s, own, i)) {
          entries.detach(s);
          slots[i] = s;
        } else {
          entries.remove(pod, s);
        }
      }
      // Missing blocks, first to last, each linked to the record before it. The anchor's child is counted first,
      // so an eviction below makes it a zombie (its new child an orphan) rather than a freed slot.
      const reserved = anchorSlot !== NO_SLOT && slots[0] === NO_SLOT;
      if (reserved) entries.reserveChild(anchorSlot);
      for (let i = 0; i < kept; i++) {
        if (slots[i] !== NO_SLOT) continue;
        const lo = eng[2 * i] as number;
        const hi = eng[2 * i + 1] as number;
        if (entries.live >= maxBlocks) evictOldest();
        const up = i > 0 ? (slots[i - 1] as number) : anchorSlot;
        const ownLo = own[2 * i] as number;
        const ownHi = own[2 * i + 1] as number;
        slots[i] = entries.create(pod, lo, hi, ownLo, ownHi, fps[i] as number, up, i === 0 && reserved);
      }
      // Last block first: the first blocks of a chain become the most recent and are evicted last.
      for (let i = kept - 1; i >= 0; i--) entries.touch(slots[i] as number);
      if (listener !== undefined && (listener.tracks?.(podKey) ?? true))
        for (let i = n - 1; i >= 0; i--) listener.stored(podKey, ownKeys[i] as bigint);
    },

    blockRemoved(podKey, blockHashes) {
      const pod = podFor(podKey);
      const tell = listener !== undefined && (listener.tracks?.(podKey) ?? true) ? listener : undefined;
      for (const h of blockHashes) {
        const w = splitKey(h);
        const slot = entries.findEngine(pod.id, w[0] as number, w[1] as number);
        if (slot === NO_SLOT) {
          pod.unknownRemovals++;
        } else {
          tell?.removed(podKey, entries.ownKey(slot));
          entries.remove(pod, slot);
        }
      }
    },

    allBlocksCleared(podKey) {
      listener?.cleared(podKey);
      const pod = byKey.get(podKey);
      if (pod) entries.removeAll(pod);
    },

    dropPod(podKey) {
      listener?.cleared(podKey);
      const pod = byKey.get(podKey);
      if (!pod) return;
      entries.removeAll(pod);
      byKey.delete(podKey);
      byId.delete(pod.id);
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
        if (pod.orphans === 0) {
          fps ??= pathFingerprints(words, n);
          qPod = pod.id;
          qWords = words;
          qFps = fps;
          run = firstMissing(n, guess, heldOnPath);
          guess = run;
        }
        // The exact walk: from 0 for a pod with orphans; past the run when its next key is held on another path
        // (never, for kvroute's chain keys).
        while (
          run < n &&
          entries.findOwn(pod.id, words[2 * run] as number, words[2 * run + 1] as number) !== NO_SLOT
        )
          run++;
        if (run > 0) out.set(podKey, run);
      }
      return out;
    },

    blocks: (podKey) => byKey.get(podKey)?.size ?? 0,

    holder(podKey) {
      const pod = byKey.get(podKey);
      return pod === undefined || pod.size === 0 ? undefined : pod.holder;
    },

    stats(podKey) {
      const pod = byKey.get(podKey);
      if (!pod) return ZERO_STATS;
      const { unanchored, unknownRemovals, evicted, malformed, crowded } = pod;
      return { blocks: pod.size, unanchored, unknownRemovals, evicted, malformed, crowded };
    },

    blockSize: (podKey) => byKey.get(podKey)?.blockSize,
    size: () => entries.live,
    evictions: () => evictedTotal,
  };
}
