/**
 * Block hash chain for the simulated prefix cache: `h_i = H(h_{i-1}, tokens of block i, lora)`, the shape of
 * vLLM's `hash_block_tokens` (`vllm/v1/core/kv_cache_utils.py`) with a 64-bit digest like vLLM's published
 * int form.
 *
 * Pure JavaScript on purpose: `createSimEngine` is synchronous (the server builds pods without awaiting), and
 * the WASM xxhash needs an async initialisation. Two independent 32-bit murmur3-style lanes over 32-bit words
 * (different seeds and multipliers) make a 64-bit value; per block that is ~2×(B+3) `Math.imul`s and one
 * BigInt, far cheaper than sha256. It is not vLLM's digest: routers consuming the events recompute their own
 * keys from `token_ids` (as llm-d and AIBrix do), which is exactly what this exercises.
 *
 * @module
 */

const MASK32 = 0xffffffffn;

function rotl(x: number, r: number): number {
  return (x << r) | (x >>> (32 - r));
}

/** One murmur3 body round with caller-chosen multipliers. */
function round(h: number, k: number, c1: number, c2: number): number {
  k = Math.imul(k, c1);
  k = rotl(k, 15);
  k = Math.imul(k, c2);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

/** murmur3 finaliser: full avalanche of a 32-bit state. */
function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  return h ^ (h >>> 16);
}

/** Stable 32-bit key of a LoRA name (0 for the base model); mixed into every block like vLLM's extra key. */
export function loraKey(lora: string | undefined): number {
  if (lora === undefined || lora === "") return 0;
  let h = 0x9747b28c;
  for (let i = 0; i < lora.length; i++) h = round(h, lora.charCodeAt(i), 0xcc9e2d51, 0x1b873593);
  return fmix(h ^ lora.length) | 1;
}

/**
 * Hash of the block `tokens[start, start + blockSize)` chained on `parent`.
 * `tokens` is read with `at(i)` so prompt (Uint32Array) and prompt+output views share one code path.
 */
export function hashBlock(
  parent: bigint,
  at: (i: number) => number,
  start: number,
  blockSize: number,
  lora: number,
): bigint {
  const pLo = Number(parent & MASK32) | 0;
  const pHi = Number((parent >> 32n) & MASK32) | 0;
  // Lane A: murmur3 constants; lane B: xxh32 primes, so the lanes do not collide together.
  let a = round(
    round(round(0x2f6b1d3a, pLo, 0xcc9e2d51, 0x1b873593), pHi, 0xcc9e2d51, 0x1b873593),
    lora,
    0xcc9e2d51,
    0x1b873593,
  );
  let b = round(
    round(round(0x61c88647, pHi, 0x85ebca77, 0xc2b2ae3d), pLo, 0x85ebca77, 0xc2b2ae3d),
    lora,
    0x85ebca77,
    0xc2b2ae3d,
  );
  for (let i = start, end = start + blockSize; i < end; i++) {
    const t = at(i) | 0;
    a = round(a, t, 0xcc9e2d51, 0x1b873593);
    b = round(b, t, 0x85ebca77, 0xc2b2ae3d);
  }
  a = fmix(a ^ blockSize);
  b = fmix(b ^ a);
  a = fmix(a ^ b);
  return (BigInt(b >>> 0) << 32n) | BigInt(a >>> 0);
}
