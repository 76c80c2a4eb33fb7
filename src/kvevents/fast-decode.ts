/**
 * The fast path of {@link decodeBatch}: a reader specialised to `KVEventBatch` payloads that walks the msgpack
 * bytes once and builds the events directly (no generic value tree, no key cache, no per-value state stack), for
 * the positional envelope `[ts, events, rank?]` with events as maps (release layout) or arrays (legacy layout).
 *
 * It is exact or silent: it returns a batch only when the payload is well-formed msgpack of a shape it fully
 * understands, built to the same values the generic decoder would give; for anything else (a map envelope, ext
 * types, non-ASCII strings, map keys that are not strings, duplicate fields, a value of an unexpected type, trailing
 * bytes, truncation…) it returns `undefined` and the generic decoder decides, with its error reasons. A test decodes
 * thousands of mutated payloads both ways and compares.
 *
 * @module
 */
import type { BlockRemovedEvent, BlockStoredEvent, DecodedBatch, KvEvent } from "./decode";
import { BAIL, MsgpackCursor } from "./msgpack-cursor";

/** The reader (decoding is synchronous, so one instance serves every call). */
const c = new MsgpackCursor();

/** One block hash, normalised as `normaliseHash` does (bails where it would throw: the generic path reports). */
function hash(): bigint {
  const b = c.u8();
  if (b === 0xcf) return c.bigAfter(b);
  if (b === 0xd3) return BigInt.asUintN(64, c.bigAfter(b));
  if (b === 0xc4) {
    const n = c.u8();
    if (n === 0) throw BAIL;
    c.need(n);
    let v = 0n;
    for (let i = Math.max(c.pos, c.pos + n - 8); i < c.pos + n; i++)
      v = (v << 8n) | BigInt(c.buf[i] as number);
    c.pos += n;
    return v;
  }
  const x = c.numberAfter(b);
  if (!Number.isSafeInteger(x)) throw BAIL;
  return BigInt.asUintN(64, BigInt(x));
}

/** The block-hash list; uint64 hashes (what vLLM sends) read inline, anything else through {@link hash}. */
function hashes(): bigint[] {
  const n = c.arrayLength();
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    if (c.buf[c.pos] === 0xcf && c.pos + 9 <= c.end) {
      out[i] = c.view.getBigUint64(c.pos + 1);
      c.pos += 9;
    } else out[i] = hash();
  }
  return out;
}

function optHash(): bigint | undefined {
  if (c.nil()) return undefined;
  return hash();
}

/**
 * Token ids: the hottest loop (16 per block). The usual encodings (fixint, uint8/16/32) are read inline from locals;
 * anything else goes through {@link numberAfter}.
 */
function tokens(): number[] {
  if (c.nil()) return [];
  const n = c.arrayLength();
  const out = new Array<number>(n);
  const b = c.buf;
  const v = c.view;
  const e = c.end;
  let p = c.pos;
  for (let i = 0; i < n; i++) {
    const h = p < e ? (b[p] as number) : -1;
    if (h >= 0 && h <= 0x7f) {
      out[i] = h;
      p += 1;
    } else if (h === 0xcd && p + 3 <= e) {
      out[i] = v.getUint16(p + 1);
      p += 3;
    } else if (h === 0xce && p + 5 <= e) {
      out[i] = v.getUint32(p + 1);
      p += 5;
    } else if (h === 0xcc && p + 2 <= e) {
      out[i] = b[p + 1] as number;
      p += 2;
    } else {
      c.pos = p;
      out[i] = c.numberAfter(c.u8());
      p = c.pos;
    }
  }
  c.pos = p;
  return out;
}

function optInt(): number | undefined {
  const b = c.u8();
  if (b === 0xc0) return undefined;
  if (b === 0xcf || b === 0xd3) return Number(c.bigAfter(b));
  const x = c.numberAfter(b);
  if (!Number.isInteger(x)) throw BAIL;
  return x;
}

function optStr(): string | undefined {
  const b = c.u8();
  return b === 0xc0 ? undefined : c.asciiAfter(b);
}

function optList(): unknown[] | undefined {
  if (c.nil()) return undefined;
  const n = c.arrayLength();
  const out: unknown[] = [];
  for (let i = 0; i < n; i++) out.push(c.value(1));
  return out;
}

/** Fields of an event as read so far (map events may name them in any order). */
interface Fields {
  blockHashes: bigint[] | undefined;
  parent: bigint | undefined;
  tokenIds: number[] | undefined;
  blockSize: number | undefined;
  loraId: number | undefined;
  medium: string | undefined;
  loraName: string | undefined;
  extraKeys: unknown[] | undefined;
  groupIdx: number | undefined;
}

function stored(f: Fields): BlockStoredEvent {
  if (f.blockHashes === undefined) throw BAIL; // the generic path reports "block_hashes is not an array"
  return {
    tag: "BlockStored",
    blockHashes: f.blockHashes,
    parentBlockHash: f.parent,
    tokenIds: f.tokenIds ?? [],
    blockSize: f.blockSize ?? 0,
    loraId: f.loraId,
    medium: f.medium,
    loraName: f.loraName,
    extraKeys: f.extraKeys,
    groupIdx: f.groupIdx,
  };
}

function removed(f: Fields): BlockRemovedEvent {
  if (f.blockHashes === undefined) throw BAIL;
  return { tag: "BlockRemoved", blockHashes: f.blockHashes, medium: f.medium, groupIdx: f.groupIdx };
}

function emptyFields(): Fields {
  return {
    blockHashes: undefined,
    parent: undefined,
    tokenIds: undefined,
    blockSize: undefined,
    loraId: undefined,
    medium: undefined,
    loraName: undefined,
    extraKeys: undefined,
    groupIdx: undefined,
  };
}

/** Bit per map key, to refuse duplicates (the generic decoder keeps the last; rare enough to leave to it). */
const KEY_BITS: Readonly<Record<string, number>> = {
  type: 1,
  block_hashes: 2,
  parent_block_hash: 4,
  token_ids: 8,
  block_size: 16,
  lora_id: 32,
  medium: 64,
  lora_name: 128,
  extra_keys: 256,
  group_idx: 512,
};

/** A map event with `n` entries; `null` for an unknown tag. */
function mapEvent(n: number): KvEvent | null {
  const f = emptyFields();
  let tag: string | undefined;
  let seen = 0;
  for (let i = 0; i < n; i++) {
    const key = c.asciiAfter(c.u8());
    if (key === "__proto__") throw BAIL;
    const bit = Object.prototype.hasOwnProperty.call(KEY_BITS, key) ? (KEY_BITS[key] as number) : 0;
    if ((seen & bit) !== 0) throw BAIL;
    seen |= bit;
    switch (bit) {
      case 1:
        tag = c.asciiAfter(c.u8());
        break;
      case 2:
        f.blockHashes = hashes();
        break;
      case 4:
        f.parent = optHash();
        break;
      case 8:
        f.tokenIds = tokens();
        break;
      case 16:
        f.blockSize = optInt();
        break;
      case 32:
        f.loraId = optInt();
        break;
      case 64:
        f.medium = optStr();
        break;
      case 128:
        f.loraName = optStr();
        break;
      case 256:
        f.extraKeys = optList();
        break;
      case 512:
        f.groupIdx = optInt();
        break;
      default:
        c.value();
    }
  }
  if (tag === undefined) throw BAIL;
  return tag === "BlockStored" ? stored(f) : tag === "BlockRemoved" ? removed(f) : tagged(tag);
}

/** `AllBlocksCleared`, or `null` for a tag kvroute does not know. */
function tagged(tag: string): KvEvent | null {
  return tag === "AllBlocksCleared" ? { tag } : null;
}

/** A positional (legacy) event with `n` elements, the tag first. */
function arrayEvent(n: number): KvEvent | null {
  if (n === 0) throw BAIL;
  const tag = c.asciiAfter(c.u8());
  const f = emptyFields();
  let i = 1;
  if (tag === "BlockStored") {
    const readers = [
      () => (f.blockHashes = hashes()),
      () => (f.parent = optHash()),
      () => (f.tokenIds = tokens()),
      () => (f.blockSize = optInt()),
      () => (f.loraId = optInt()),
      () => (f.medium = optStr()),
      () => (f.loraName = optStr()),
      () => (f.extraKeys = optList()),
      () => (f.groupIdx = optInt()),
    ];
    for (; i < n && i <= readers.length; i++) (readers[i - 1] as () => unknown)();
  } else if (tag === "BlockRemoved") {
    if (n > 1) f.blockHashes = hashes();
    if (n > 2) f.medium = optStr();
    if (n > 3) f.groupIdx = optInt();
    i = Math.min(n, 4);
  }
  for (; i < n; i++) c.value();
  return tag === "BlockStored" ? stored(f) : tag === "BlockRemoved" ? removed(f) : tagged(tag);
}

function event(): KvEvent | null {
  const b = c.u8();
  if (b >= 0x80 && b <= 0x8f) return mapEvent(b - 0x80);
  if (b === 0xde) {
    c.need(2);
    c.pos += 2;
    return mapEvent(c.view.getUint16(c.pos - 2));
  }
  c.pos--;
  return arrayEvent(c.arrayLength());
}

function envelope(): DecodedBatch {
  const n = c.arrayLength();
  if (n < 2 || n > 3) throw BAIL;
  const tb = c.u8();
  const ts = tb === 0xcf || tb === 0xd3 ? Number(c.bigAfter(tb)) : c.numberAfter(tb);
  const count = c.arrayLength();
  const events: KvEvent[] = [];
  let unknownTags = 0;
  for (let i = 0; i < count; i++) {
    const e = event();
    if (e === null) unknownTags++;
    else events.push(e);
  }
  const rank = n === 3 ? optInt() : undefined;
  if (c.pos !== c.end) throw BAIL;
  return rank === undefined
    ? { kind: "batch", ts, events, unknownTags }
    : { kind: "batch", ts, events, dataParallelRank: rank, unknownTags };
}

/** Decode `payload` on the fast path; `undefined` when the generic decoder must decide. Never throws. */
export function decodeBatchFast(payload: Uint8Array): DecodedBatch | undefined {
  c.reset(payload);
  try {
    return envelope();
  } catch (err) {
    if (err === BAIL) return undefined;
    throw err;
  } finally {
    c.release();
  }
}
