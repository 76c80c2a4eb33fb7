/**
 * What users of a router expect to see per model and pod: requests routed, time to first token, end-to-end
 * duration, time per output token, prompt and completion sizes, and how much of the prompts the picked pods held.
 * Kept apart from `metrics.ts` because they describe the requests as their clients saw them, not kvroute's
 * internals. Every `pod` label goes through the shared pod-label limiter (series leave with their pod), every
 * `model` through the model limiter, where they are recorded.
 *
 * @module
 */
import { Counter, Histogram } from "prom-client";
import type { Registry } from "prom-client";

/** The request-level handles (part of `Metrics`). */
export interface RequestMetrics {
  /** Routing decisions by model, picked pod and strategy label (counted when the decision is made). */
  readonly routedRequests: Counter<"model" | "pod" | "strategy">;
  /** Streamed requests: request headers to the first SSE data event, seconds. */
  readonly timeToFirstToken: Histogram<"model" | "pod">;
  /** Request headers to the end of the response, seconds. */
  readonly requestDuration: Histogram<"model" | "pod">;
  /** Streamed requests: (end − first token) / (completion tokens − 1), seconds. */
  readonly timePerOutputToken: Histogram<"model" | "pod">;
  /** Prompt tokens the engine reported in the response's usage. */
  readonly promptTokens: Histogram<"model" | "pod">;
  /** Completion tokens the engine reported in the response's usage. */
  readonly completionTokens: Histogram<"model" | "pod">;
  /** Leading prompt blocks the picked pod held, by model. */
  readonly prefixHitBlocks: Counter<"model">;
  /** Prompt blocks looked up in the prefix indexes for the picked pod, by model. */
  readonly prefixLookupBlocks: Counter<"model">;
}

/** Time to first token: prefill of a short prompt (tens of ms) up to a long queue or a huge prompt (a minute). */
export const TTFT_BUCKETS = [0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 60];
/** End-to-end duration: an embedding (tens of ms) up to a long generation (ten minutes). */
export const DURATION_BUCKETS = [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 20, 40, 80, 160, 320, 640];
/** Time per output token: a small model on a fast GPU (~5 ms) to an overloaded pod (0.5 s and more). */
export const TPOT_BUCKETS = [0.005, 0.01, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5, 1];
/** Prompt tokens: powers of four from a one-line question to a 128k context. */
export const PROMPT_TOKEN_BUCKETS = [16, 64, 256, 1024, 2048, 4096, 8192, 16384, 32768, 65536, 131072];
/** Completion tokens: one token (classification, embeddings report none) to a 32k generation. */
export const COMPLETION_TOKEN_BUCKETS = [1, 8, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 32768];

/** Register the request-level metrics. */
export function createRequestMetrics(registry: Registry): RequestMetrics {
  const registers = [registry];
  const perPod = (name: string, help: string, buckets: number[]): Histogram<"model" | "pod"> =>
    new Histogram({ name, help, labelNames: ["model", "pod"], buckets, registers });
  return {
    routedRequests: new Counter({
      name: "kvroute_routed_requests_total",
      help: "Routing decisions by model, picked pod and strategy (fallbacks included), counted at the decision.",
      labelNames: ["model", "pod", "strategy"],
      registers,
    }),
    timeToFirstToken: perPod(
      "kvroute_time_to_first_token_seconds",
      "Streamed successful requests: request headers at kvroute to the first SSE data event of the response.",
      TTFT_BUCKETS,
    ),
    requestDuration: perPod(
      "kvroute_request_duration_seconds",
      "Successful requests: request headers at kvroute to the end of the response.",
      DURATION_BUCKETS,
    ),
    timePerOutputToken: perPod(
      "kvroute_time_per_output_token_seconds",
      "Streamed successful requests with 2+ completion tokens: (end - first token) / (completion tokens - 1).",
      TPOT_BUCKETS,
    ),
    promptTokens: perPod(
      "kvroute_prompt_tokens",
      "Prompt tokens of successful requests, as the engine's usage reported them.",
      PROMPT_TOKEN_BUCKETS,
    ),
    completionTokens: perPod(
      "kvroute_completion_tokens",
      "Completion tokens of successful requests, as the engine's usage reported them.",
      COMPLETION_TOKEN_BUCKETS,
    ),
    prefixHitBlocks: new Counter({
      name: "kvroute_prefix_hit_blocks_total",
      help: "Leading prompt blocks the picked pod held by the prefix index that speaks for it, by model.",
      labelNames: ["model"],
      registers,
    }),
    prefixLookupBlocks: new Counter({
      name: "kvroute_prefix_lookup_blocks_total",
      help: "Prompt blocks looked up in the prefix indexes for the picked pod (prefix-aware strategies), by model.",
      labelNames: ["model"],
      registers,
    }),
  };
}
