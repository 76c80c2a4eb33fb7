/**
 * Block-key chains: kvroute's own scheme ({@link createBlockHasher}) and AIBrix's byte-block scheme
 * ({@link aibrixPrefixHashes}, for `--prefix-hash aibrix`).
 *
 * kvroute scheme, exact bytes. With `seed` reduced to unsigned 64 bits:
 * - context root `r` = `seed` for the base model (`context === ""`), else `xxh64(seed, utf8(context))`;
 * - `key_{-1}` = `parent` when given, else `r`;
 * - `key_i` = `xxh64(seed, LE64(key_{i-1}) ‖ LE32(t_{iB}) ‖ … ‖ LE32(t_{iB+B-1}))`: 8 bytes of the previous key
 *   little-endian, then the block's `B` token ids as little-endian uint32 (`8 + 4B` bytes per block);
 * - only full blocks are hashed; a trailing partial block is dropped.
 *
 * Because `parent` is the only state carried between blocks, `chain(a ‖ b, B, c)` equals
 * `chain(b, B, c, last(chain(a, B, c)))` when `a` has a whole number of blocks: events can extend a chain.
 *
 * @module
 */
import type { BlockHasher, BlockKey } from "./block-key";
import { loadXxh64, xxh64, type Xxh64 } from "./xxhash";
import { instantiateChainModule } from "./xxh64-chain-wasm";
import type { ChainModule } from "./xxh64-chain-wasm";

const U64 = (1n << 64n) - 1n;
/** Context roots are cached; contexts are adapter names (low-cardinality), this bounds a misbehaving client. */
const MAX_CACHED_ROOTS = 4096;

/** Reusable scratch buffer of `8 + 4B` bytes for one block, with a DataView over it. */
interface Scratch {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  /** The token part (from byte 8) as uint32s; written directly only on little-endian hosts. */
  readonly ids: Uint32Array;
}

/** Whether typed arrays are little-endian here (all of Node's mainstream platforms); else DataView writes. */
const LITTLE_ENDIAN = new Uint8Array(new Uint32Array([1]).buffer)[0] === 1;

function scratch(size: number): Scratch {
  const bytes = new Uint8Array(size);
  return { bytes, view: new DataView(bytes.buffer), ids: new Uint32Array(bytes.buffer, 8, (size - 8) >> 2) };
}

/**
 * Build a {@link BlockHasher} over an initialised hash function (exposed for tests and benchmarks). On little-endian
 * hosts the chains are computed by {@link wasmChains} (one WebAssembly call per chain); `hash` then only computes
 * LoRA context roots. Elsewhere, and with `perBlock`, one `hash` call per block (the reference path).
 */
export function blockHasherFrom(hash: Xxh64, seed: bigint, perBlock = !LITTLE_ENDIAN): BlockHasher {
  const s = seed & U64;
  const encoder = new TextEncoder();
  const roots = new Map<string, bigint>();
  let buf = scratch(8 + 4 * 16);
  const whole = perBlock ? undefined : wasmChains(s);

  const root = (context: string): bigint => {
    if (context === "") return s;
    let r = roots.get(context);
    if (r === undefined) {
      r = hash(encoder.encode(context), s);
      if (roots.size >= MAX_CACHED_ROOTS) roots.clear();
      roots.set(context, r);
    }
    return r;
  };

  return {
    chain(tokens, blockSize, context, parent) {
      if (!Number.isInteger(blockSize) || blockSize <= 0)
        throw new RangeError(`invalid block size ${blockSize}`);
      const n = Math.floor(tokens.length / blockSize);
      if (n === 0) return new BigUint64Array(0);
      const first: BlockKey = parent === undefined ? root(context) : parent & U64;
      if (whole) return whole(tokens, n, blockSize, first);
      const out = new BigUint64Array(n);
      const size = 8 + 4 * blockSize;
      if (buf.bytes.length !== size) buf = scratch(size);
      const { bytes, view, ids } = buf;
      let prev = first;
      let t = 0;
      for (let i = 0; i < n; i++) {
        view.setBigUint64(0, prev, true);
        if (LITTLE_ENDIAN) {
          for (let j = 0; j < blockSize; j++) ids[j] = tokens[t++] as number;
        } else {
          for (let j = 0, off = 8; j < blockSize; j++, off += 4)
            view.setUint32(off, (tokens[t++] as number) >>> 0, true);
        }
        prev = hash(bytes, s);
        out[i] = prev;
      }
      return out;
    },
  };
}

/** Bytes of WebAssembly memory a chain may use before the hasher stops keeping it (128k-token prompts fit). */
const WASM_KEEP_BYTES = 4 << 20;
const PAGE = 65_536;
const align8 = (n: number): number => (n + 7) & ~7;

/**
 * Chains computed in one call into the {@link ChainModule} (little-endian hosts only: tokens are written through a
 * `Uint32Array` over the module's little-endian memory). Memory layout per call: words 0–1 seed and first parent,
 * the tokens from byte 64 (the module writes each block's parent key into the 8 bytes before it), then the keys. Memory grows to the longest chain asked for; past
 * {@link WASM_KEEP_BYTES} the module is replaced after the call, so one huge prompt does not pin its memory.
 */
function wasmChains(
  seed: bigint,
): (tokens: ArrayLike<number>, n: number, blockSize: number, first: bigint) => BigUint64Array {
  let mod: ChainModule = instantiateChainModule();
  return (tokens, n, blockSize, first) => {
    const count = n * blockSize;
    const tokAt = 64;
    const outAt = tokAt + align8(4 * count);
    const need = outAt + 8 * n;
    const have = mod.memory.buffer.byteLength;
    if (need > have) mod.memory.grow(Math.ceil((need - have) / PAGE));
    const mem = mod.memory.buffer;
    const words = new BigUint64Array(mem, 0, 2);
    words[0] = seed;
    words[1] = first;
    const ids = new Uint32Array(mem, tokAt, count);
    if (tokens.length === count) ids.set(tokens);
    else for (let i = 0; i < count; i++) ids[i] = tokens[i] as number;
    mod.chain(tokAt, n, blockSize, outAt);
    const out = new BigUint64Array(n);
    out.set(new BigUint64Array(mem, outAt, n));
    if (mem.byteLength > WASM_KEEP_BYTES) mod = instantiateChainModule();
    return out;
  };
}

/** Create kvroute's block hasher for `seed` (initialises xxhash-wasm on first use). */
export async function createBlockHasher(seed: bigint): Promise<BlockHasher> {
  return blockHasherFrom(await loadXxh64(), seed);
}

/**
 * AIBrix's prefix hashes (`pkg/utils/prefixcacheindexer/hash.go: getPrefixHashes`): `tokenBytes` is cut into full
 * blocks of `blockBytes` bytes (tail dropped); `h_{-1} = seed`, `h_i = xxh64(seed, LE64(h_{i-1}) ‖ block_i)`.
 * Requires xxhash-wasm to be initialised ({@link loadXxh64} or {@link createBlockHasher} resolved).
 *
 * @throws Error before initialisation; RangeError for a non-positive block size.
 */
export function aibrixPrefixHashes(tokenBytes: Uint8Array, blockBytes: number, seed: bigint): BigUint64Array {
  if (!Number.isInteger(blockBytes) || blockBytes <= 0)
    throw new RangeError(`invalid block size ${blockBytes}`);
  const hash = xxh64();
  const s = seed & U64;
  const n = Math.floor(tokenBytes.length / blockBytes);
  const out = new BigUint64Array(n);
  const { bytes, view } = scratch(8 + blockBytes);
  let prev = s;
  for (let i = 0; i < n; i++) {
    view.setBigUint64(0, prev, true);
    bytes.set(tokenBytes.subarray(i * blockBytes, (i + 1) * blockBytes), 8);
    prev = hash(bytes, s);
    out[i] = prev;
  }
  return out;
}

/** AIBrix's token byte array for token ids (tiktoken / remote tokenizer): each id as a 4-byte big-endian uint32. */
export function aibrixTokenBytes(tokens: ArrayLike<number>): Uint8Array {
  const bytes = new Uint8Array(tokens.length * 4);
  const view = new DataView(bytes.buffer);
  for (let i = 0; i < tokens.length; i++) view.setUint32(i * 4, (tokens[i] as number) >>> 0, false);
  return bytes;
}

/** AIBrix's token byte array for its `character` tokenizer: the UTF-8 bytes of the text. */
export function aibrixCharacterBytes(text: string): Uint8Array {
  return new TextEncoder().encode(text);
}
