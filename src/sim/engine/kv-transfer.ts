/**
 * The KV transfer time model of a disaggregated (prefill/decode) fleet: a decode pod that receives a request whose
 * prompt was prefilled elsewhere (vLLM's `kv_transfer_params.do_remote_prefill`) pulls the prompt's KV blocks from
 * the prefill pod instead of computing them. That costs `tokens × bytes per token / link bandwidth`, paid on the
 * decode pod's link while its engine keeps stepping (vLLM loads asynchronously: the request waits in
 * WAITING_FOR_REMOTE_KVS, other requests run). One link per pod: concurrent pulls queue on it, so a burst of long
 * prompts costs their sum, not the longest.
 *
 * @module
 */
import type { SimEngineParams } from "./types";

/**
 * KV bytes per token when neither the params nor the preset give one: Qwen3-32B's
 * 64 layers × 8 KV heads × 128 × (K, V) × bf16 = 256 KiB, the model the `demo` and 32B presets are sized on.
 */
export const DEFAULT_KV_BYTES_PER_TOKEN = 262_144;
/**
 * Link bandwidth between a prefill and a decode pod when not given: 100 Gb/s (12.5 GB/s), one RDMA NIC's worth
 * and deliberately below an H100 node's 400 Gb/s per GPU, so the model does not flatter disaggregation.
 */
export const DEFAULT_KV_TRANSFER_BYTES_PER_SECOND = 12.5e9;

/** Seconds to pull the KV of `tokens` tokens over one link (without queueing). */
export function kvTransferSeconds(tokens: number, params: SimEngineParams): number {
  const bytes = params.kvBytesPerToken ?? DEFAULT_KV_BYTES_PER_TOKEN;
  const rate = params.kvTransferBytesPerSecond ?? DEFAULT_KV_TRANSFER_BYTES_PER_SECOND;
  return (tokens * bytes) / rate;
}

/** One pod's inbound link: transfers run one after another, each at the full bandwidth. */
export class KvLink {
  private freeAtMs = Number.NEGATIVE_INFINITY;

  constructor(private readonly params: SimEngineParams) {
    const bytes = params.kvBytesPerToken ?? DEFAULT_KV_BYTES_PER_TOKEN;
    const rate = params.kvTransferBytesPerSecond ?? DEFAULT_KV_TRANSFER_BYTES_PER_SECOND;
    if (!(bytes > 0) || !(rate > 0) || !Number.isFinite(bytes) || !Number.isFinite(rate))
      throw new RangeError("kvBytesPerToken and kvTransferBytesPerSecond must be positive");
  }

  /** Queue a pull of `tokens` tokens at `nowMs`; returns when it completes (ms, same clock). */
  reserve(tokens: number, nowMs: number): number {
    const start = Math.max(nowMs, this.freeAtMs);
    this.freeAtMs = start + kvTransferSeconds(tokens, this.params) * 1000;
    return this.freeAtMs;
  }
}
