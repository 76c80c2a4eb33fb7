/**
 * The block keys of a prompt's tokens that routing will ask for, computed in one place whichever thread runs it:
 * the main thread (short prompts, on demand) or a tokenizer worker (long prompts, together with the encoding, so
 * the event loop never hashes thousands of blocks). Both call these functions, so both give the same keys.
 *
 * @module
 */
import type { BlockHasher } from "./block-key";

/** Which keys to compute beside the token ids (a plain object: it crosses to worker threads). */
export interface KeyPlan {
  /** The seed the block hasher was created with (the worker builds its own hasher with it). */
  readonly seed: bigint;
  /** `""` for a base model, else the adapter's name. */
  readonly context: string;
  /** kvroute-scheme block sizes (tokens a block), each hashed once. */
  readonly blockSizes: readonly number[];
  /** Most leading blocks hashed per block size; absent = all. */
  readonly maxBlocks?: number;
  /** AIBrix's byte-block scheme (`--prefix-hash aibrix`): bytes a block. */
  readonly aibrixBlockBytes?: number;
}

/** The keys of a {@link KeyPlan}. */
export interface PlannedKeys {
  /** kvroute-scheme keys by block size. */
  readonly keys: ReadonlyMap<number, BigUint64Array>;
  /** AIBrix-scheme keys, when the plan asked for them. */
  readonly aibrix?: BigUint64Array;
}

/** The tokens of the first `maxBlocks` blocks of `unit` tokens each (a view, no copy). */
export function leadingTokens(tokens: Uint32Array, unit: number, maxBlocks: number | undefined): Uint32Array {
  return maxBlocks !== undefined && tokens.length > maxBlocks * unit
    ? tokens.subarray(0, maxBlocks * unit)
    : tokens;
}

/** The token byte array AIBrix hashes: UTF-8 of the text for `character`, else each id as 4 big-endian bytes. */
export function aibrixTokenBytes(tokens: Uint32Array, isCharacter: boolean): Uint8Array {
  if (isCharacter) return Uint8Array.from(tokens);
  const out = new Uint8Array(tokens.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < tokens.length; i++) view.setUint32(i * 4, tokens[i] ?? 0, false);
  return out;
}

/** kvroute-scheme keys of the leading `maxBlocks` blocks of `tokens`. */
export function chainKeys(
  hasher: BlockHasher,
  tokens: Uint32Array,
  blockSize: number,
  context: string,
  maxBlocks: number | undefined,
): BigUint64Array {
  return hasher.chain(leadingTokens(tokens, blockSize, maxBlocks), blockSize, context);
}

/** AIBrix-scheme keys of the leading `maxBlocks` blocks of `blockBytes` bytes (1 byte a token for `character`). */
export function aibrixKeys(
  hash: (tokenBytes: Uint8Array, blockBytes: number) => BigUint64Array,
  tokens: Uint32Array,
  blockBytes: number,
  isCharacter: boolean,
  maxBlocks: number | undefined,
): BigUint64Array {
  const unit = Math.ceil(blockBytes / (isCharacter ? 1 : 4));
  return hash(aibrixTokenBytes(leadingTokens(tokens, unit, maxBlocks), isCharacter), blockBytes);
}

/** Every key of `plan` for `tokens`. */
export function computePlannedKeys(
  plan: KeyPlan,
  tokens: Uint32Array,
  hasher: BlockHasher,
  aibrixHash: (tokenBytes: Uint8Array, blockBytes: number) => BigUint64Array,
  isCharacter: boolean,
): PlannedKeys {
  const keys = new Map<number, BigUint64Array>();
  for (const size of plan.blockSizes) {
    if (!keys.has(size)) keys.set(size, chainKeys(hasher, tokens, size, plan.context, plan.maxBlocks));
  }
  if (plan.aibrixBlockBytes === undefined) return { keys };
  const aibrix = aibrixKeys(aibrixHash, tokens, plan.aibrixBlockBytes, isCharacter, plan.maxBlocks);
  return { keys, aibrix };
}

/** The buffers of `keys` to transfer to another thread (each key array owning its whole buffer). */
export function ownedKeyBuffers(planned: PlannedKeys): { planned: PlannedKeys; buffers: ArrayBuffer[] } {
  const own = (a: BigUint64Array): BigUint64Array =>
    a.byteOffset === 0 && a.byteLength === a.buffer.byteLength ? a : a.slice();
  const keys = new Map<number, BigUint64Array>();
  for (const [size, k] of planned.keys) keys.set(size, own(k));
  const aibrix = planned.aibrix === undefined ? undefined : own(planned.aibrix);
  const arrays = [...keys.values(), ...(aibrix === undefined ? [] : [aibrix])];
  // A buffer listed twice makes postMessage throw; distinct arrays own distinct buffers, but be sure.
  const buffers = [...new Set(arrays.map((a) => a.buffer as ArrayBuffer))];
  return { planned: aibrix === undefined ? { keys } : { keys, aibrix }, buffers };
}
