/**
 * What kvroute understands of one OpenAI-style (or Anthropic-style) inference request, parsed once from the body
 * and shared by everything after: routing, load accounting, logging.
 *
 * @module
 */

/** The inference endpoints kvroute parses, by `:path` (query string ignored). */
export type Endpoint =
  | "chat-completions" // /v1/chat/completions
  | "completions" // /v1/completions
  | "embeddings" // /v1/embeddings
  | "responses" // /v1/responses
  | "messages" // /v1/messages (Anthropic)
  | "rerank" // /v1/rerank
  | "classify"; // /v1/classify

/**
 * The prompt as routing sees it, extracted once.
 * - `text`: the text prefix-aware routing hashes or tokenizes (chat contents joined with a single space, as AIBrix).
 * - `tokens`: token-id prompts (`/v1/completions` and `/v1/embeddings` accept them); one array per prompt.
 */
export type Prompt =
  | { readonly t: "text"; readonly text: string }
  | { readonly t: "tokens"; readonly ids: readonly (readonly number[])[] };

/** One chat message reduced to what a chat template reads: its role and its text parts joined with a space. */
export interface ChatTurn {
  readonly role: string;
  readonly content: string;
}

/** A parsed request. Never contains anything that was not validated. */
export interface InferenceRequest {
  readonly endpoint: Endpoint;
  /** `:path` without the query string. */
  readonly path: string;
  /** The `model` field: a base model or a LoRA adapter name. Non-empty. */
  readonly model: string;
  /** `stream: true` was requested. */
  readonly stream: boolean;
  /** `stream_options.include_usage: true` was requested. */
  readonly includeUsage: boolean;
  /** OpenAI `user` field, when a non-empty string. */
  readonly user: string | undefined;
  /** `max_completion_tokens`, else `max_tokens`, else `max_output_tokens` (responses), when a positive integer. */
  readonly maxTokens: number | undefined;
  /** The routing text or token ids. */
  readonly prompt: Prompt;
  /**
   * The conversation (chat completions and Anthropic messages), so a tokenizer can render the model's chat template
   * as the engine does; undefined for other endpoints.
   */
  readonly chat?: readonly ChatTurn[];
  /**
   * Estimated prompt size in tokens, used for token-work load accounting before a tokenizer runs: the exact count
   * for token-id prompts, else ceil(UTF-16 length / 4).
   */
  readonly promptTokens: number;
  /** Size of the raw body in bytes. */
  readonly bodyBytes: number;
}
