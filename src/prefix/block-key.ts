/**
 * kvroute's own name for a full block of prompt tokens: a chain of seeded xxh64 hashes over token ids, so the key
 * of block i depends on every token before it. The seed is fixed (and configurable), so replicas agree; a LoRA
 * adapter's blocks get their own chain, because the engine caches them apart from the base model's.
 *
 * @module
 */

/** One block's key (unsigned 64-bit). */
export type BlockKey = bigint;

/** Computes block-key chains. Created once (the hash function needs async set-up) and shared. */
export interface BlockHasher {
  /**
   * Keys of the full blocks of `tokens` (the trailing partial block is dropped), chained from `parent` (the key of
   * the block before the first one; `undefined` = start of a prompt) within `context` (`""` for a base model, the
   * LoRA adapter name otherwise).
   */
  chain(tokens: ArrayLike<number>, blockSize: number, context: string, parent?: BlockKey): BigUint64Array;
}
