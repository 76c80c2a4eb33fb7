/**
 * Where prompt blocks are cached: per pod, which block keys it holds. Two implementations share this contract:
 * the approximate index (what kvroute itself routed) and the event index (what vLLM reported over ZeroMQ).
 *
 * @module
 */
import type { BlockKey } from "./block-key";

/** Read side used by strategies. */
export interface PrefixIndex {
  /**
   * For each pod in `podKeys`: how many leading blocks of `keys` it holds (the longest run of consecutive blocks
   * from the first one). Pods with no match are absent. Synchronous and cheap: it runs in the routing decision.
   */
  match(keys: ArrayLike<BlockKey>, podKeys: readonly string[]): Map<string, number>;
  /** Blocks indexed for a pod (for `/debug/state`). */
  blocks(podKey: string): number;
  /** Forget a pod (it left the fleet, became unready, or its event stream must resync). */
  dropPod(podKey: string): void;
}

/** A pod's set of held block keys, as one index exposes it to another (a `Map` or `Set` satisfies it). */
export interface BlockHolder {
  has(key: BlockKey): boolean;
}

/**
 * A {@link BlockHolder} that also answers on key words and path fingerprints (see key-path.ts), so an index that
 * matches on top of it can search it instead of walking it (the event index's holders are).
 */
export interface PathHolder extends BlockHolder {
  /** Whether holding key i of a path, on that path, implies holding its keys 0..i−1 now (no orphans). */
  closed(): boolean;
  /** Whether the key (lo, hi) is held. */
  hasWords(lo: number, hi: number): boolean;
  /** Whether the key (lo, hi) is held as the end of the path whose fingerprint is `fp`. */
  hasOnPath(lo: number, hi: number, fp: number): boolean;
}

/** Whether `holder` is a {@link PathHolder}. */
export function isPathHolder(holder: BlockHolder): holder is PathHolder {
  return typeof (holder as Partial<PathHolder>).hasOnPath === "function";
}

/**
 * Told by the event index, under kvroute's key, what a pod's events said about a block (the speculative index
 * listens, so an event supersedes its guess). Called synchronously while the event is applied.
 */
export interface BlockListener {
  /** `BlockStored`: the pod now holds the block. */
  stored(podKey: string, key: BlockKey): void;
  /** `BlockRemoved`: the pod evicted the block. */
  removed(podKey: string, key: BlockKey): void;
  /** `AllBlocksCleared`, or the pod's stream was dropped: nothing of the pod's is known any more. */
  cleared(podKey: string): void;
  /**
   * Whether `stored` / `removed` for this pod could change anything now (cheap; asked once per event). False lets
   * the event index skip its per-block calls (and a `BigInt` per block): a speculative index with no guess for the
   * pod. Absent: every block is told.
   */
  tracks?(podKey: string): boolean;
}

/** A `BlockStored` event as the index needs it (hashes already normalised to unsigned 64-bit). */
export interface StoredBlocks {
  /** Engine hashes of the stored blocks, in order. */
  readonly blockHashes: readonly bigint[];
  /** Engine hash of the block before the first one; undefined/null for a prompt's first block. */
  readonly parentBlockHash: bigint | undefined;
  /** The tokens of all the stored blocks, concatenated (blockHashes.length × blockSize ids). */
  readonly tokenIds: ArrayLike<number>;
  readonly blockSize: number;
  /** LoRA adapter name the blocks were computed under, if any. */
  readonly loraName: string | undefined;
}

/** Write side fed by the KV-event subscriber; every call affects only `podKey`'s entries. */
export interface KvEventSink {
  blockStored(podKey: string, event: StoredBlocks): void;
  blockRemoved(podKey: string, blockHashes: readonly bigint[]): void;
  allBlocksCleared(podKey: string): void;
  /** The pod's event stream lost continuity (gap not covered by replay, restart): drop everything it reported. */
  dropPod(podKey: string): void;
}
