/**
 * Engine presets for stated GPU/model pairs. Every number is derived in README.md ("Presets"); the short form
 * is in the comments. Anchors: llm-d's published 73-capacity benchmark (8 pods × 2×H100 TP2 Qwen3-32B,
 * 307,328 KV tokens/pod, precise routing 8,730 out tok/s) and llm-d's blog (Qwen3-32B 10k-token prompt 4.3 s
 * cold → 0.6 s warm).
 *
 * @module
 */
import type { SimEngineParams } from "./types";

/** H100 SXM HBM3 bandwidth, 3.35 TB/s (NVIDIA datasheet): decode is memory bound, so it sets the step costs. */
const H100_BYTES_PER_S = 3.35e12;

export const PRESETS = {
  /**
   * Qwen3-32B, 2×H100 80 GB, TP=2 (the llm-d 73-capacity pod).
   * - KV: 307,328 tokens/pod measured by llm-d → 19,208 blocks of 16 (vLLM's default block size).
   * - Prefill 1.0e-4 s/token: 2×32.8 GFLOP/token over 2 GPUs at ~330 TFLOP/s effective (~33% of bf16 dense peak).
   *   This is what the 8,730 tok/s/8-pod result needs (1,200 uncached tokens per request must leave the pod
   *   mostly decoding); the 4.3 s cold 10k-token TTFT anchor was measured under load, its 7× cold/warm ratio is
   *   what the model reproduces (see README).
   * - Decode base 12 ms: 32.8 GB of weights per GPU / 3.35 TB/s = 9.8 ms, plus TP all-reduce and launch.
   * - Per sequence 0.1 ms: 65.6 GFLOP/token on 2 GPUs plus sampling/bookkeeping.
   * - Per KV token: 128 KiB/token/GPU (64 layers × 8 KV heads × 128 × K,V × bf16 / TP2) / 3.35 TB/s.
   */
  "qwen3-32b-2xh100": {
    numGpuBlocks: 19208,
    blockSize: 16,
    maxNumSeqs: 256,
    maxNumBatchedTokens: 8192,
    prefillSecondsPerToken: 1.0e-4,
    decodeStepBaseSeconds: 0.012,
    decodeStepPerSeqSeconds: 1.0e-4,
    decodeStepPerKvTokenSeconds: 131072 / H100_BYTES_PER_S,
    maxModelLen: 32768,
    maxWaiting: 1024,
  },
  /**
   * Qwen3-8B, 1×H100 80 GB.
   * - KV: 0.9 × 85.0 GB visible = 76.5 GB, minus 16.4 GB weights, minus 3.5 GB activations/CUDA graphs (the
   *   overhead the 32B anchor implies: 76.5 − 32.8 − 307,328 × 128 KiB) = 56.6 GB / 144 KiB per token
   *   (36 layers × 8 KV heads × 128 × K,V × bf16) ≈ 384k tokens → 24,000 blocks of 16.
   * - Prefill 5e-5 s/token: half the per-GPU FLOPs of the 32B TP2 pod (16.4 vs 32.8 GFLOP/token/GPU), ≈ 20k tok/s.
   * - Decode base 6 ms: 16.4 GB / 3.35 TB/s = 4.9 ms plus launch (≈ 160 tok/s single stream).
   * - Per sequence 50 µs, per KV token 144 KiB / 3.35 TB/s.
   */
  "qwen3-8b-h100": {
    numGpuBlocks: 24000,
    blockSize: 16,
    maxNumSeqs: 256,
    maxNumBatchedTokens: 8192,
    prefillSecondsPerToken: 5e-5,
    decodeStepBaseSeconds: 0.006,
    decodeStepPerSeqSeconds: 5e-5,
    decodeStepPerKvTokenSeconds: 147456 / H100_BYTES_PER_S,
    maxModelLen: 32768,
    maxWaiting: 1024,
  },
  /**
   * Scaled-down pod for `make demo` (4 pods on a 2-core laptop): 4,096 blocks × 16 = 65,536 KV tokens, so the
   * default shared-prefix workload (64 groups × 2,048-token system prompt = 131k prefix tokens) thrashes a pod
   * that sees every group (random/load routing) but fits when each pod owns ~16 groups (prefix routing).
   * Prefill as the 32B pod (2k-token prefix: 0.2 s cold vs 13 ms for a warm 128-token question); steps of
   * ~5–15 ms keep the timer rate per pod low enough for Node on one core.
   */
  demo: {
    numGpuBlocks: 4096,
    blockSize: 16,
    maxNumSeqs: 32,
    maxNumBatchedTokens: 2048,
    prefillSecondsPerToken: 1.0e-4,
    decodeStepBaseSeconds: 0.004,
    decodeStepPerSeqSeconds: 1.0e-4,
    decodeStepPerKvTokenSeconds: 5e-8,
    maxModelLen: 8192,
    maxWaiting: 512,
  },
} as const satisfies Record<string, SimEngineParams>;

export type SimPresetName = keyof typeof PRESETS;

/** A mutable copy of a preset (callers often override a field or two). */
export function preset(name: SimPresetName): SimEngineParams {
  return { ...PRESETS[name] };
}
