/**
 * vLLM's `sha256_cbor` block hash (`--prefix-caching-hash-algo sha256_cbor`, `vllm/v1/core/kv_cache_utils.py`),
 * for a simulated engine whose published hashes should equal a real pod's:
 *
 *   NONE_HASH  = sha256(cbor(PYTHONHASHSEED as a text string))
 *   digest_i   = sha256(cbor((digest_{i-1} or NONE_HASH, tuple(block i's token ids), extra_keys_i or None)))
 *   published  = the digest's last 8 bytes, big-endian unsigned (VLLM_KV_EVENTS_USE_INT_BLOCK_HASHES=1)
 *
 * The CBOR is the canonical form cbor2 writes for these values (smallest heads; a tuple is an array), built here
 * by hand: only unsigned/negative integers, byte strings, text strings, arrays and null occur.
 * test/sim/vllm-hash.test.ts checks it against hashes computed by vLLM's own code.
 *
 * @module
 */
import { createHash } from "node:crypto";

/** An extra key: the LoRA name, a cache salt, or an int (multimodal offset). */
export type ExtraKey = string | number;

/** CBOR head of `major` type with argument `n` (smallest encoding). */
function head(major: number, n: number): Buffer {
  const m = major << 5;
  if (n < 24) return Buffer.of(m | n);
  if (n < 0x100) return Buffer.of(m | 24, n);
  if (n < 0x10000) return Buffer.of(m | 25, n >> 8, n & 0xff);
  if (n < 0x1_0000_0000) {
    const b = Buffer.alloc(5);
    b[0] = m | 26;
    b.writeUInt32BE(n, 1);
    return b;
  }
  const b = Buffer.alloc(9);
  b[0] = m | 27;
  b.writeBigUInt64BE(BigInt(n), 1);
  return b;
}

function int(n: number): Buffer {
  if (!Number.isSafeInteger(n)) throw new RangeError(`not an integer: ${n}`);
  return n >= 0 ? head(0, n) : head(1, -1 - n);
}

function text(s: string): Buffer {
  const utf8 = Buffer.from(s, "utf8");
  return Buffer.concat([head(3, utf8.length), utf8]);
}

/** `sha256(cbor(seed))`: the root parent, from `PYTHONHASHSEED`. */
export function noneHash(pythonHashSeed: string): Buffer {
  return createHash("sha256").update(text(pythonHashSeed)).digest();
}

/** Digest of the block `[start, start + blockSize)` of the sequence read by `at`, chained on `parent`. */
export function blockDigest(
  parent: Buffer,
  at: (i: number) => number,
  start: number,
  blockSize: number,
  extraKeys: readonly ExtraKey[] | undefined,
): Buffer {
  const parts: Buffer[] = [head(4, 3), head(2, parent.length), parent, head(4, blockSize)];
  for (let i = start; i < start + blockSize; i++) parts.push(int(at(i)));
  if (extraKeys === undefined || extraKeys.length === 0) parts.push(Buffer.of(0xf6));
  else {
    parts.push(head(4, extraKeys.length));
    for (const k of extraKeys) parts.push(typeof k === "string" ? text(k) : int(k));
  }
  return createHash("sha256").update(Buffer.concat(parts)).digest();
}

/** The int form vLLM publishes: the digest's last 8 bytes, big-endian. */
export function publishedHash(digest: Buffer): bigint {
  return digest.readBigUInt64BE(digest.length - 8);
}
