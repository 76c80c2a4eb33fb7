/**
 * How many tokens a request reserves from its tenant's budget at admission: its prompt's tokens plus the output it
 * may generate. The output is the request's own cap when it gives one (`max_completion_tokens` / `max_tokens` /
 * `max_output_tokens`), else the output predictor's guess for its model and prompt length, else
 * {@link DEFAULT_RESERVED_OUTPUT_TOKENS}. Endpoints that generate nothing (embeddings, rerank, classify) reserve
 * their prompt only. Settlement replaces the estimate with the usage the response reports, so the estimate only
 * decides how much of a burst is admitted before the first of it completes.
 *
 * @module
 */
import type { Endpoint, InferenceRequest } from "../request";

/** Output reserved for a generating request without `max_tokens` and without a prediction (no history yet). */
export const DEFAULT_RESERVED_OUTPUT_TOKENS = 256;

/** Endpoints whose responses carry generated tokens. */
const GENERATING: ReadonlySet<Endpoint> = new Set([
  "chat-completions",
  "completions",
  "responses",
  "messages",
]);

/** Predicted output tokens for a prompt of `promptTokens` to `model`; undefined without history. */
export type PredictOutput = (model: string, promptTokens: number) => number | undefined;

/** The tokens `request` reserves: prompt + predicted output (see the module doc). */
export function reservedTokens(request: InferenceRequest, predict: PredictOutput | undefined): number {
  const prompt = Math.max(0, Math.ceil(request.promptTokens));
  if (!GENERATING.has(request.endpoint)) return prompt;
  const output =
    request.maxTokens ?? predict?.(request.model, request.promptTokens) ?? DEFAULT_RESERVED_OUTPUT_TOKENS;
  return prompt + Math.max(0, Math.ceil(output));
}
