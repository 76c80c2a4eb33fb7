/**
 * Fresh `BlockStored` payloads for the `kv` benchmark: one prefill event of `blocks` × `blockSize` tokens in vLLM's
 * release layout (byte-exact encoder of the simulator, `src/sim/server/kv-wire.ts`), stamped per message so every
 * block is new to the index: message `n` gets its own engine hashes (`hi = 2^31 | n`, `lo` mixed from block and
 * message number, so none repeats) and its own first token id (so kvroute's own key chain differs from the first
 * block on). Stamping rewrites fixed-width fields of one template in place: no re-encoding per message.
 *
 * @module
 */
import { encodeKvEventBatch } from "../src/sim/server/kv-wire";

/** A template payload and where its per-message fields are. */
export interface FreshTemplate {
  readonly bytes: Buffer;
  readonly blocks: number;
  readonly blockSize: number;
  /** Byte offset of each block hash's 8 bytes (msgpack uint64, big-endian). */
  readonly hashOffsets: readonly number[];
  /** Byte offset of the first token id's 4 bytes (msgpack uint32, big-endian). */
  readonly tokenOffset: number;
}

/** Markers: uint64 hashes ≥ 2^32 and a uint32 token ≥ 2^16 encode at fixed width (0xcf / 0xce). */
const HASH_MARK = 0x5eed_0000_0000_0000n;
const TOKEN_MARK = 0x00ab_cdef;

function findOnce(hay: Buffer, needle: Buffer): number {
  const at = hay.indexOf(needle);
  if (at < 0 || hay.indexOf(needle, at + 1) >= 0) throw new Error("fresh template: marker not unique");
  return at;
}

/** Build the template of one `BlockStored` of `blocks` blocks (parent null, no LoRA, GPU, group 0). */
export function freshTemplate(blocks = 128, blockSize = 16): FreshTemplate {
  const hashes = Array.from({ length: blocks }, (_, i) => HASH_MARK + BigInt(i));
  const tokens = Array.from({ length: blocks * blockSize }, (_, i) => (i * 7919) % 60_000);
  tokens[0] = TOKEN_MARK;
  const bytes = encodeKvEventBatch(1_700_000_000.5, [
    { type: "BlockStored", blockHashes: hashes, parentBlockHash: undefined, tokenIds: tokens, blockSize },
  ]);
  const hashOffsets = hashes.map((h) => {
    const needle = Buffer.alloc(9);
    needle[0] = 0xcf;
    needle.writeBigUInt64BE(h, 1);
    return findOnce(bytes, needle) + 1;
  });
  const tok = Buffer.alloc(5);
  tok[0] = 0xce;
  tok.writeUInt32BE(TOKEN_MARK, 1);
  return { bytes, blocks, blockSize, hashOffsets, tokenOffset: findOnce(bytes, tok) + 1 };
}

/** Write message `n`'s fields into `out` (a copy of the template's bytes). `n` < 2^31. */
export function stampFresh(t: FreshTemplate, out: Buffer, n: number): void {
  const hi = (0x8000_0000 | n) >>> 0;
  const mix = Math.imul(n, 0x85eb_ca77);
  for (let i = 0; i < t.hashOffsets.length; i++) {
    const at = t.hashOffsets[i] as number;
    out.writeUInt32BE(hi, at);
    out.writeUInt32BE((Math.imul(i + 1, 0x9e37_79b1) ^ mix) >>> 0, at + 4);
  }
  out.writeUInt32BE(n >>> 0, t.tokenOffset);
}

/** Message `n` as a new buffer. */
export function freshPayload(t: FreshTemplate, n: number): Buffer {
  const out = Buffer.from(t.bytes);
  stampFresh(t, out, n);
  return out;
}
