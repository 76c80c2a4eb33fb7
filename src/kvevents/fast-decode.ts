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

/** Unwinds the reader to "not on the fast path" (preallocated: no stack trace per bail-out). */
const BAIL = Symbol("bail");

/** The reader's state for one payload (decoding is synchronous, so one instance serves every call). */
let buf: Uint8Array = new Uint8Array(0);
let view = new DataView(buf.buffer);
let pos = 0;
let end = 0;

function need(n: number): void {
  if (pos + n > end) throw BAIL;
}

function u8(): number {
  if (pos >= end) throw BAIL;
  return buf[pos++] as number;
}

/** Length of an array whose header starts at `pos`. */
function arrayLength(): number {
  const b = u8();
  if (b >= 0x90 && b <= 0x9f) return b - 0x90;
  if (b === 0xdc) {
    need(2);
    pos += 2;
    return view.getUint16(pos - 2);
  }
  if (b === 0xdd) {
    need(4);
    pos += 4;
    return view.getUint32(pos - 4);
  }
  throw BAIL;
}

/** An ASCII string whose header byte `b` was read; bails on anything else (the generic UTF-8 decoder decides). */
function asciiAfter(b: number): string {
  let n: number;
  if (b >= 0xa0 && b <= 0xbf) n = b - 0xa0;
  else if (b === 0xd9) n = u8();
  else if (b === 0xda) {
    need(2);
    n = view.getUint16(pos);
    pos += 2;
  } else throw BAIL;
  need(n);
  let s = "";
  for (let i = pos; i < pos + n; i++) {
    const c = buf[i] as number;
    if (c >= 0x80) throw BAIL;
    s += String.fromCharCode(c);
  }
  pos += n;
  return s;
}

/** A msgpack integer or float (not 64-bit integers) after header byte `b`; bails on other types. */
function numberAfter(b: number): number {
  if (b <= 0x7f) return b;
  if (b >= 0xe0) return b - 0x100;
  switch (b) {
    case 0xcc:
      return u8();
    case 0xcd:
      need(2);
      pos += 2;
      return view.getUint16(pos - 2);
    case 0xce:
      need(4);
      pos += 4;
      return view.getUint32(pos - 4);
    case 0xd0:
      need(1);
      return view.getInt8(pos++);
    case 0xd1:
      need(2);
      pos += 2;
      return view.getInt16(pos - 2);
    case 0xd2:
      need(4);
      pos += 4;
      return view.getInt32(pos - 4);
    case 0xca:
      need(4);
      pos += 4;
      return view.getFloat32(pos - 4);
    case 0xcb:
      need(8);
      pos += 8;
      return view.getFloat64(pos - 8);
    default:
      throw BAIL;
  }
}

/** A msgpack 64-bit integer after header byte `b` (0xcf / 0xd3) as the generic decoder gives it: a bigint. */
function bigAfter(b: number): bigint {
  need(8);
  pos += 8;
  return b === 0xcf ? view.getBigUint64(pos - 8) : view.getBigInt64(pos - 8);
}

/** Any value of the kinds the generic decoder builds plainly (nil, bool, numbers, ASCII strings, arrays). */
function value(): unknown {
  const b = u8();
  if (b === 0xc0) return null;
  if (b === 0xc2) return false;
  if (b === 0xc3) return true;
  if (b === 0xcf || b === 0xd3) return bigAfter(b);
  if ((b >= 0xa0 && b <= 0xbf) || b === 0xd9 || b === 0xda) return asciiAfter(b);
  if ((b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd) {
    pos--;
    const n = arrayLength();
    const out = new Array<unknown>(n);
    for (let i = 0; i < n; i++) out[i] = value();
    return out;
  }
  return numberAfter(b);
}

/** One block hash, normalised as `normaliseHash` does (bails where it would throw: the generic path reports). */
function hash(): bigint {
  const b = u8();
  if (b === 0xcf) return bigAfter(b);
  if (b === 0xd3) return BigInt.asUintN(64, bigAfter(b));
  if (b === 0xc4) {
    const n = u8();
    if (n === 0) throw BAIL;
    need(n);
    let v = 0n;
    for (let i = Math.max(pos, pos + n - 8); i < pos + n; i++) v = (v << 8n) | BigInt(buf[i] as number);
    pos += n;
    return v;
  }
  const x = numberAfter(b);
  if (!Number.isSafeInteger(x)) throw BAIL;
  return BigInt.asUintN(64, BigInt(x));
}

/** The block-hash list; uint64 hashes (what vLLM sends) read inline, anything else through {@link hash}. */
function hashes(): bigint[] {
  const n = arrayLength();
  const out = new Array<bigint>(n);
  for (let i = 0; i < n; i++) {
    if (buf[pos] === 0xcf && pos + 9 <= end) {
      out[i] = view.getBigUint64(pos + 1);
      pos += 9;
    } else out[i] = hash();
  }
  return out;
}

function optHash(): bigint | undefined {
  if (buf[pos] === 0xc0 && pos < end) {
    pos++;
    return undefined;
  }
  return hash();
}

/**
 * Token ids: the hottest loop (16 per block). The usual encodings (fixint, uint8/16/32) are read inline from locals;
 * anything else goes through {@link numberAfter}.
 */
function tokens(): number[] {
  if (buf[pos] === 0xc0 && pos < end) {
    pos++;
    return [];
  }
  const n = arrayLength();
  const out = new Array<number>(n);
  const b = buf;
  const e = end;
  let p = pos;
  for (let i = 0; i < n; i++) {
    const h = p < e ? (b[p] as number) : -1;
    if (h >= 0 && h <= 0x7f) {
      out[i] = h;
      p += 1;
    } else if (h === 0xcd && p + 3 <= e) {
      out[i] = ((b[p + 1] as number) << 8) | (b[p + 2] as number);
      p += 3;
    } else if (h === 0xce && p + 5 <= e) {
      out[i] =
        (((b[p + 1] as number) << 24) |
          ((b[p + 2] as number) << 16) |
          ((b[p + 3] as number) << 8) |
          (b[p + 4] as number)) >>>
        0;
      p += 5;
    } else {
      pos = p;
      out[i] = numberAfter(u8());
      p = pos;
    }
  }
  pos = p;
  return out;
}

function optInt(): number | undefined {
  const b = u8();
  if (b === 0xc0) return undefined;
  if (b === 0xcf || b === 0xd3) return Number(bigAfter(b));
  const x = numberAfter(b);
  if (!Number.isInteger(x)) throw BAIL;
  return x;
}

function optStr(): string | undefined {
  const b = u8();
  return b === 0xc0 ? undefined : asciiAfter(b);
}

function optList(): unknown[] | undefined {
  if (buf[pos] === 0xc0 && pos < end) {
    pos++;
    return undefined;
  }
  const n = arrayLength();
  const out = new Array<unknown>(n);
  for (let i = 0; i < n; i++) out[i] = value();
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
    const key = asciiAfter(u8());
    if (key === "__proto__") throw BAIL;
    const bit = Object.prototype.hasOwnProperty.call(KEY_BITS, key) ? (KEY_BITS[key] as number) : 0;
    if ((seen & bit) !== 0) throw BAIL;
    seen |= bit;
    switch (bit) {
      case 1:
        tag = asciiAfter(u8());
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
        value();
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
  const tag = asciiAfter(u8());
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
  for (; i < n; i++) value();
  return tag === "BlockStored" ? stored(f) : tag === "BlockRemoved" ? removed(f) : tagged(tag);
}

function event(): KvEvent | null {
  const b = u8();
  if (b >= 0x80 && b <= 0x8f) return mapEvent(b - 0x80);
  if (b === 0xde) {
    need(2);
    pos += 2;
    return mapEvent(view.getUint16(pos - 2));
  }
  pos--;
  return arrayEvent(arrayLength());
}

function envelope(): DecodedBatch {
  const n = arrayLength();
  if (n < 2 || n > 3) throw BAIL;
  const tb = u8();
  const ts = tb === 0xcf || tb === 0xd3 ? Number(bigAfter(tb)) : numberAfter(tb);
  const count = arrayLength();
  const events: KvEvent[] = [];
  let unknownTags = 0;
  for (let i = 0; i < count; i++) {
    const e = event();
    if (e === null) unknownTags++;
    else events.push(e);
  }
  const rank = n === 3 ? optInt() : undefined;
  if (pos !== end) throw BAIL;
  return rank === undefined
    ? { kind: "batch", ts, events, unknownTags }
    : { kind: "batch", ts, events, dataParallelRank: rank, unknownTags };
}

/** Decode `payload` on the fast path; `undefined` when the generic decoder must decide. Never throws. */
export function decodeBatchFast(payload: Uint8Array): DecodedBatch | undefined {
  buf = payload;
  view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  pos = 0;
  end = payload.length;
  try {
    return envelope();
  } catch (err) {
    if (err === BAIL) return undefined;
    throw err;
  } finally {
    buf = new Uint8Array(0); // do not keep the payload alive
  }
}
