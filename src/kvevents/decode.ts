/**
 * Pure decoder of vLLM `KVEventBatch` payloads (frame 2 of a KV-event message; schema in vLLM's
 * `vllm/distributed/kv_events.py`).
 *
 * Three layouts are in the wild and all are accepted:
 * - legacy (≤ v0.23): positional arrays at both levels, `[ts, [[tag, …fields], …], dp_rank?]`;
 * - release (v0.24+): positional envelope, events as maps keyed by `"type"`;
 * - snapshot (unreleased revision): the envelope is a map too, `{ts, events, data_parallel_rank}`.
 *
 * Block hashes are normalised to unsigned 64-bit `bigint`: integers are masked with `BigInt.asUintN(64, …)`
 * (legacy builtin `hash()` values may be negative), byte digests fold to their **last** 8 bytes big-endian, as
 * vLLM's own int mode does (AIBrix folds the first 8 bytes, which matches nothing).
 *
 * Malformed input never throws: it yields a {@link DecodeError} with a closed {@link DecodeErrorReason}.
 *
 * Two paths, one result: the common payloads go through a reader specialised to this schema (`fast-decode.ts`,
 * several times faster: it walks the bytes once); anything it does not fully understand, including every malformed
 * payload, goes through the generic msgpack decoder below, which is the reference ({@link decodeBatchGeneric}).
 *
 * @module
 */
import type * as Msgpack from "@msgpack/msgpack";
import { decodeBatchFast } from "./fast-decode";
import { msgpackBoundsProblem } from "./msgpack-bounds";

/** Why a payload was rejected. */
export type DecodeErrorReason =
  /** Zero-length payload. */
  | "empty"
  /** Not valid msgpack (truncated, trailing bytes, reserved type codes). */
  | "msgpack"
  /** Valid msgpack, but not a `KVEventBatch` (wrong envelope, event or field types). */
  | "shape"
  /** A block hash that is neither an integer nor a byte string. */
  | "hash";

/** A rejected payload. */
export interface DecodeError {
  readonly kind: "error";
  readonly reason: DecodeErrorReason;
  /** Human-readable detail for logs (never contains payload bytes). */
  readonly detail: string;
}

/** `BlockStored`: full blocks became cached (or a prefix-cache hit was reported). */
export interface BlockStoredEvent {
  readonly tag: "BlockStored";
  readonly blockHashes: readonly bigint[];
  readonly parentBlockHash: bigint | undefined;
  readonly tokenIds: readonly number[];
  /** Tokens per block; 0 when the producer omitted it (offload tiers). */
  readonly blockSize: number;
  readonly loraId: number | undefined;
  readonly medium: string | undefined;
  readonly loraName: string | undefined;
  /** Per-block extra-key tuples (LoRA name, cache salt, multimodal hashes) or undefined. */
  readonly extraKeys: readonly unknown[] | undefined;
  readonly groupIdx: number | undefined;
}

/** `BlockRemoved`: cached blocks were evicted. */
export interface BlockRemovedEvent {
  readonly tag: "BlockRemoved";
  readonly blockHashes: readonly bigint[];
  readonly medium: string | undefined;
  readonly groupIdx: number | undefined;
}

/** `AllBlocksCleared`: the engine reset its prefix cache. */
export interface AllBlocksClearedEvent {
  readonly tag: "AllBlocksCleared";
}

/** Any KV-cache event kvroute understands. */
export type KvEvent = BlockStoredEvent | BlockRemovedEvent | AllBlocksClearedEvent;

/** Tag of a {@link KvEvent}. */
export type KvEventTag = KvEvent["tag"];

/** A decoded batch. */
export interface DecodedBatch {
  readonly kind: "batch";
  /** Batch timestamp, seconds since the epoch (engine clock). */
  readonly ts: number;
  readonly events: readonly KvEvent[];
  /** The engine's data-parallel rank when stamped (absent on the oldest producers). */
  readonly dataParallelRank?: number;
  /** Events with a tag kvroute does not know, skipped. */
  readonly unknownTags: number;
}

/** Internal: thrown inside the decoder only, converted to a {@link DecodeError} at the boundary. */
class ShapeError extends Error {
  constructor(
    readonly reason: DecodeErrorReason,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The generic decoder, made for the first payload the fast path leaves to it: a kvroute whose engines send only
 * the common payloads (and every process that never decodes one) does not load `@msgpack/msgpack`.
 */
let decoder: Msgpack.Decoder | undefined;
function genericDecoder(): Msgpack.Decoder {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see above)
  decoder ??= new (require("@msgpack/msgpack") as typeof Msgpack).Decoder({ useBigInt64: true });
  return decoder;
}

const U64 = 64;

/** True when `x` is a {@link DecodeError}. */
export function isDecodeError(x: DecodedBatch | DecodeError): x is DecodeError {
  return x.kind === "error";
}

/**
 * Normalise one engine block hash to unsigned 64-bit: integers masked to 64 bits, byte strings folded to their
 * last 8 bytes big-endian (left-padded with zeros when shorter).
 */
export function normaliseHash(h: unknown): bigint {
  if (typeof h === "bigint") return BigInt.asUintN(U64, h);
  if (typeof h === "number") {
    if (!Number.isSafeInteger(h)) throw new ShapeError("hash", "non-integer numeric block hash");
    return BigInt.asUintN(U64, BigInt(h));
  }
  if (h instanceof Uint8Array) {
    if (h.length === 0) throw new ShapeError("hash", "empty byte block hash");
    let v = 0n;
    for (let i = Math.max(0, h.length - 8); i < h.length; i++) v = (v << 8n) | BigInt(h[i] as number);
    return v;
  }
  throw new ShapeError("hash", `block hash of type ${typeof h}`);
}

function hashList(v: unknown, field: string): bigint[] {
  if (!Array.isArray(v)) throw new ShapeError("shape", `${field} is not an array`);
  const out = new Array<bigint>(v.length);
  for (let i = 0; i < v.length; i++) out[i] = normaliseHash(v[i]);
  return out;
}

function optHash(v: unknown): bigint | undefined {
  return v === null || v === undefined ? undefined : normaliseHash(v);
}

function tokenList(v: unknown): number[] {
  if (v === null || v === undefined) return [];
  if (!Array.isArray(v)) throw new ShapeError("shape", "token_ids is not an array");
  for (const t of v) if (typeof t !== "number") throw new ShapeError("shape", "token id is not a number");
  return v as number[];
}

function optInt(v: unknown, field: string): number | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "number" && Number.isInteger(v)) return v;
  if (typeof v === "bigint") return Number(v);
  throw new ShapeError("shape", `${field} is not an integer`);
}

function optStr(v: unknown, field: string): string | undefined {
  if (v === null || v === undefined) return undefined;
  if (typeof v === "string") return v;
  throw new ShapeError("shape", `${field} is not a string`);
}

function optList(v: unknown, field: string): unknown[] | undefined {
  if (v === null || v === undefined) return undefined;
  if (Array.isArray(v)) return v as unknown[];
  throw new ShapeError("shape", `${field} is not an array`);
}

/** Field reader over either a positional (array) event or a map event. */
type Field = (name: string, position: number) => unknown;

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** Decode one event; `null` for an unknown tag. */
function decodeEvent(raw: unknown): KvEvent | null {
  let tag: unknown;
  let get: Field;
  if (Array.isArray(raw)) {
    const arr: unknown[] = raw;
    tag = arr[0];
    get = (_name, pos) => arr[pos];
  } else if (isPlainObject(raw)) {
    tag = raw["type"];
    get = (name) => (Object.prototype.hasOwnProperty.call(raw, name) ? raw[name] : undefined);
  } else {
    throw new ShapeError("shape", "event is neither an array nor a map");
  }
  if (typeof tag !== "string") throw new ShapeError("shape", "event tag is not a string");
  switch (tag) {
    case "BlockStored":
      return {
        tag,
        blockHashes: hashList(get("block_hashes", 1), "block_hashes"),
        parentBlockHash: optHash(get("parent_block_hash", 2)),
        tokenIds: tokenList(get("token_ids", 3)),
        blockSize: optInt(get("block_size", 4), "block_size") ?? 0,
        loraId: optInt(get("lora_id", 5), "lora_id"),
        medium: optStr(get("medium", 6), "medium"),
        loraName: optStr(get("lora_name", 7), "lora_name"),
        extraKeys: optList(get("extra_keys", 8), "extra_keys"),
        groupIdx: optInt(get("group_idx", 9), "group_idx"),
      };
    case "BlockRemoved":
      return {
        tag,
        blockHashes: hashList(get("block_hashes", 1), "block_hashes"),
        medium: optStr(get("medium", 2), "medium"),
        groupIdx: optInt(get("group_idx", 3), "group_idx"),
      };
    case "AllBlocksCleared":
      return { tag };
    default:
      return null;
  }
}

function decodeEnvelope(raw: unknown): DecodedBatch {
  let ts: unknown;
  let events: unknown;
  let rank: unknown;
  if (Array.isArray(raw)) {
    if (raw.length < 2) throw new ShapeError("shape", "batch array shorter than [ts, events]");
    [ts, events, rank] = raw as unknown[];
  } else if (isPlainObject(raw)) {
    ts = raw["ts"];
    events = raw["events"];
    rank = raw["data_parallel_rank"];
  } else {
    throw new ShapeError("shape", "batch is neither an array nor a map");
  }
  if (typeof ts === "bigint") ts = Number(ts);
  if (typeof ts !== "number") throw new ShapeError("shape", "ts is not a number");
  if (!Array.isArray(events)) throw new ShapeError("shape", "events is not an array");
  const out: KvEvent[] = [];
  let unknownTags = 0;
  for (const e of events as unknown[]) {
    const ev = decodeEvent(e);
    if (ev === null) unknownTags++;
    else out.push(ev);
  }
  const dataParallelRank = optInt(rank, "data_parallel_rank");
  return dataParallelRank === undefined
    ? { kind: "batch", ts, events: out, unknownTags }
    : { kind: "batch", ts, events: out, dataParallelRank, unknownTags };
}

/** Decode one `KVEventBatch` payload. Never throws. */
export function decodeBatch(payload: Uint8Array): DecodedBatch | DecodeError {
  if (payload.length === 0) return { kind: "error", reason: "empty", detail: "empty payload" };
  return decodeBatchFast(payload) ?? decodeBatchGeneric(payload);
}

/**
 * The reference decoder: generic msgpack, then the shape checks above. {@link decodeBatch} gives the same result
 * for every payload; exported so tests can compare the two.
 */
export function decodeBatchGeneric(payload: Uint8Array): DecodedBatch | DecodeError {
  if (payload.length === 0) return { kind: "error", reason: "empty", detail: "empty payload" };
  // Checked before decoding: the decoder allocates for claimed lengths and has no depth limit.
  const unbounded = msgpackBoundsProblem(payload);
  if (unbounded !== undefined) return { kind: "error", reason: "msgpack", detail: unbounded };
  const generic = genericDecoder();
  let raw: unknown;
  try {
    raw = generic.decode(payload);
  } catch (err) {
    return { kind: "error", reason: "msgpack", detail: err instanceof Error ? err.message : String(err) };
  }
  try {
    return decodeEnvelope(raw);
  } catch (err) {
    if (err instanceof ShapeError) return { kind: "error", reason: err.reason, detail: err.message };
    return { kind: "error", reason: "shape", detail: err instanceof Error ? err.message : String(err) };
  }
}
