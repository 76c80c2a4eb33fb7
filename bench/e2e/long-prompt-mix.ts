/**
 * The prefill/decode disaggregation workload: chat-sized requests with long prompts mixed in, every prompt unique
 * (no shared prefix, so prefix caching cannot hide a long prefill), all with the same decode length, at Poisson
 * times. It is the situation P/D disaggregation exists for (DistServe, Splitwise; vLLM's and llm-d's P/D guides):
 * on a pod that serves both phases, each long prompt's prefill chunks share engine steps with the running decodes
 * and stretch their inter-token time; a decode-only pod never runs a long prefill.
 *
 * @module
 */
import { exponential, mixSeed, prng, tokenText } from "./text";
import type { TextTokenizer } from "./text";
import { poissonArrivals, scaled } from "./workloads";
import type { Workload, WorkloadRequest } from "./workloads";

/** Options of {@link longPromptMixWorkload}. */
export interface LongPromptMixOptions {
  readonly seed?: number;
  /** Requests per second (Poisson). */
  readonly rate: number;
  readonly requests: number;
  /** Share of requests with a long prompt (default 0.15). */
  readonly longFraction?: number;
  /** Mean prompt length of the chat-sized requests (exponential, at least 16 tokens; default 256). */
  readonly shortTokens?: number;
  /** Prompt length of the long requests (default 6,144: under the `demo` preset's 8,192 max_model_len). */
  readonly longTokens?: number;
  /** Output tokens of every request (default 128: enough steps for a per-request TPOT). */
  readonly outputTokens?: number;
  readonly scale?: number;
  readonly tokenizer?: TextTokenizer;
}

/** See the module comment. Long requests are drawn independently (not every k-th), so they can cluster. */
export function longPromptMixWorkload(o: LongPromptMixOptions): Workload {
  const seed = o.seed ?? 1;
  const scale = o.scale ?? 1;
  const tokenizer = o.tokenizer ?? "tiktoken";
  const rand = prng(mixSeed(seed, 0x9d));
  const longTokens = scaled(o.longTokens ?? 6144, scale);
  const shortMean = scaled(o.shortTokens ?? 256, scale);
  const maxTokens = scaled(o.outputTokens ?? 128, scale);
  const times = poissonArrivals(o.requests, o.rate, rand);
  const requests: WorkloadRequest[] = times.map((atMs, i) => {
    const long = rand() < (o.longFraction ?? 0.15);
    const tokens = long
      ? longTokens
      : Math.min(longTokens, Math.max(16, Math.round(exponential(rand, shortMean))));
    return {
      id: `${long ? "long" : "chat"}-${i}`,
      atMs,
      messages: [{ role: "user", content: tokenText(tokens, prng(mixSeed(seed, 3, i)), tokenizer) }],
      maxTokens,
      inputTokens: tokens,
    };
  });
  return { name: "long-prompt-mix", tokenizer, requests };
}
