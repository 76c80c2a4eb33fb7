/**
 * The tests' own encoder of vLLM KV-event payloads in the current release layout: the batch is the array
 * `[ts, events, data_parallel_rank]`, each event a map whose keys come in msgspec declaration order with `type`
 * first; fields that default to None are omitted, the others always written. Encoded with `@msgpack/msgpack`
 * (smallest integer forms, float64 for a non-integer `ts`), independent of the simulator's writer;
 * `test/kvevents/vllm-kv-batch.test.ts` checks it against frames captured from vLLM.
 *
 * @module
 */
import { encode } from "@msgpack/msgpack";

/** One event as a test describes it. */
export type TestKvEvent =
  | {
      readonly type: "BlockStored";
      readonly blockHashes: readonly bigint[];
      readonly parentBlockHash?: bigint;
      readonly tokenIds: readonly number[];
      readonly blockSize: number;
      readonly loraId?: number;
      readonly loraName?: string;
    }
  | { readonly type: "BlockRemoved"; readonly blockHashes: readonly bigint[] }
  | { readonly type: "AllBlocksCleared" };

/** A hash as msgpack wants it: a plain number when exact (smallest form), else a bigint (uint64). */
function int(h: bigint): number | bigint {
  return h <= BigInt(Number.MAX_SAFE_INTEGER) ? Number(h) : h;
}

function eventMap(e: TestKvEvent): Record<string, unknown> {
  switch (e.type) {
    case "BlockStored":
      return {
        type: "BlockStored",
        block_hashes: e.blockHashes.map(int),
        parent_block_hash: e.parentBlockHash === undefined ? null : int(e.parentBlockHash),
        token_ids: e.tokenIds,
        block_size: e.blockSize,
        lora_id: e.loraId ?? null,
        medium: "GPU",
        lora_name: e.loraName ?? null,
        extra_keys: e.blockHashes.map(() => (e.loraName === undefined ? null : [e.loraName])),
        group_idx: 0,
        kv_cache_spec_kind: "full_attention",
      };
    case "BlockRemoved":
      return { type: "BlockRemoved", block_hashes: e.blockHashes.map(int), medium: "GPU", group_idx: 0 };
    case "AllBlocksCleared":
      return { type: "AllBlocksCleared" };
  }
}

/** Encode one batch. `ts` must not be an integer (vLLM's `time.time()` is a float; an integer would pack as int). */
export function encodeTestBatch(ts: number, events: readonly TestKvEvent[], rank = 0): Buffer {
  if (Number.isInteger(ts)) throw new RangeError("ts must have a fractional part to pack as float64");
  return Buffer.from(encode([ts, events.map(eventMap), rank], { useBigInt64: true }));
}
