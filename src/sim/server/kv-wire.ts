/**
 * vLLM's KV-event payload, encoded as the current release does (the "release layout", v0.24+):
 * the batch is a positional array `[ts, events, data_parallel_rank]`, each event a map keyed by `"type"` with
 * its fields in declaration order, defaults omitted (`omit_defaults`), fields without a default always present.
 * The bytes equal the fixture frames captured from vLLM's own publisher (test/sim/kv-wire.test.ts checks them).
 *
 * @module
 */
import type { SimKvEvent } from "../engine/types";
import { Float64, encodeMsgpack } from "./msgpack-writer";
import type { MsgValue } from "./msgpack-writer";

/** Sequence number of the replay end marker: `(-1).to_bytes(8, "big", signed=True)`. */
export const END_SEQ = Buffer.from("ffffffffffffffff", "hex");

/** vLLM's usual topic (`--kv-events-config '{"topic":"kv-events"}'`). */
export const DEFAULT_TOPIC = "kv-events";

/** A sequence number as frame 1: 8 bytes big-endian unsigned. */
export function seq8(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** One event as vLLM's structs hold it, before encoding. */
export type WireEvent =
  | {
      readonly type: "BlockStored";
      readonly blockHashes: readonly bigint[];
      readonly parentBlockHash: bigint | undefined;
      readonly tokenIds: readonly number[];
      readonly blockSize: number;
      /** vLLM's integer adapter id (`lora_int_id`), deprecated but still sent. */
      readonly loraId?: number;
      readonly loraName?: string;
      /** Per-block extra-key tuples; default: `[loraName]` on every block of a LoRA request, else `nil`. */
      readonly extraKeys?: readonly (readonly MsgValue[] | null)[];
    }
  | { readonly type: "BlockRemoved"; readonly blockHashes: readonly bigint[] }
  | { readonly type: "AllBlocksCleared" };

function storedMap(e: Extract<WireEvent, { type: "BlockStored" }>): MsgValue {
  const lora = e.loraName ?? null;
  const extraKeys = e.extraKeys ?? e.blockHashes.map(() => (lora === null ? null : [lora]));
  // Key order is msgspec's declaration order; `kv_cache_spec_sliding_window` and `locality` default to None
  // and are omitted, the others have no default and are always written.
  return {
    type: "BlockStored",
    block_hashes: e.blockHashes,
    parent_block_hash: e.parentBlockHash ?? null,
    token_ids: e.tokenIds,
    block_size: e.blockSize,
    lora_id: e.loraId ?? null,
    medium: "GPU",
    lora_name: lora,
    extra_keys: extraKeys,
    group_idx: 0,
    kv_cache_spec_kind: "full_attention",
  };
}

function eventValue(e: WireEvent): MsgValue {
  switch (e.type) {
    case "BlockStored":
      return storedMap(e);
    case "BlockRemoved":
      return { type: "BlockRemoved", block_hashes: e.blockHashes, medium: "GPU", group_idx: 0 };
    case "AllBlocksCleared":
      return { type: "AllBlocksCleared" };
  }
}

/** Encode one `KVEventBatch`: `ts` in seconds since the epoch, rank 0 (a pod without data parallelism). */
export function encodeKvEventBatch(ts: number, events: readonly WireEvent[], dataParallelRank = 0): Buffer {
  return encodeMsgpack([new Float64(ts), events.map(eventValue), dataParallelRank]);
}

/**
 * The engine's events as vLLM's structs. `loraIdOf` gives the adapter's integer id (vLLM numbers adapters from 1
 * in load order).
 */
export function wireEvents(events: readonly SimKvEvent[], loraIdOf: (name: string) => number): WireEvent[] {
  return events.flatMap((e): WireEvent[] => {
    switch (e.t) {
      case "stored":
        return [
          {
            type: "BlockStored",
            blockHashes: e.blockHashes,
            parentBlockHash: e.parentHash,
            tokenIds: e.tokenIds,
            blockSize: e.blockSize,
            ...(e.lora === undefined ? {} : { loraName: e.lora, loraId: loraIdOf(e.lora) }),
          },
        ];
      case "removed":
        // vLLM emits one BlockRemoved per evicted hash, so consumers see the same granularity here.
        return e.blockHashes.map((h) => ({ type: "BlockRemoved", blockHashes: [h] }));
      case "cleared":
        return [{ type: "AllBlocksCleared" }];
    }
  });
}
