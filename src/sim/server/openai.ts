/**
 * OpenAI-compatible response bodies as vLLM shapes them: completion objects with
 * `usage`, streaming chunks (`chat.completion.chunk` / `text_completion`), the final usage chunk with
 * `choices: []`, and error envelopes. Output text is synthetic: token `i` is one short word.
 *
 * @module
 */

/** Which endpoint a response belongs to. */
export type ApiKind = "chat" | "completions";

/** OpenAI usage, as vLLM reports it (`prompt_tokens_details` carries the prefix-cache hit). */
export interface Usage {
  readonly prompt_tokens: number;
  readonly total_tokens: number;
  readonly completion_tokens: number;
  readonly prompt_tokens_details: { readonly cached_tokens: number };
}

const WORDS = [
  "the",
  "router",
  "sends",
  "each",
  "prompt",
  "to",
  "a",
  "warm",
  "cache",
  "and",
  "tokens",
  "flow",
];

/** The synthetic text of output token `index` (a leading space, like BPE word pieces). */
export function tokenText(index: number): string {
  return ` ${WORDS[index % WORDS.length] ?? "x"}`;
}

/** The whole synthetic output of `n` tokens. */
export function outputText(n: number): string {
  let s = "";
  for (let i = 0; i < n; i++) s += tokenText(i);
  return s;
}

export function usage(prompt: number, completion: number, cached: number): Usage {
  return {
    prompt_tokens: prompt,
    total_tokens: prompt + completion,
    completion_tokens: completion,
    prompt_tokens_details: { cached_tokens: cached },
  };
}

/** Identity shared by every chunk of one response. */
export interface ResponseHead {
  readonly kind: ApiKind;
  readonly id: string;
  readonly created: number;
  readonly model: string;
}

function object(h: ResponseHead, chunk: boolean): string {
  if (h.kind === "completions") return "text_completion";
  return chunk ? "chat.completion.chunk" : "chat.completion";
}

/** The non-streaming response. */
export function completionBody(h: ResponseHead, text: string, finishReason: string, u: Usage): object {
  const choice =
    h.kind === "chat"
      ? {
          index: 0,
          message: { role: "assistant", content: text },
          logprobs: null,
          finish_reason: finishReason,
          stop_reason: null,
        }
      : { index: 0, text, logprobs: null, finish_reason: finishReason, stop_reason: null };
  return {
    id: h.id,
    object: object(h, false),
    created: h.created,
    model: h.model,
    choices: [choice],
    usage: u,
  };
}

/** The first chat chunk: the assistant role with empty content (vLLM sends it before any token). */
export function roleChunk(h: ResponseHead): object {
  return {
    id: h.id,
    object: object(h, true),
    created: h.created,
    model: h.model,
    choices: [{ index: 0, delta: { role: "assistant", content: "" }, logprobs: null, finish_reason: null }],
  };
}

/** One content chunk; the last one carries `finish_reason` (and `stop_reason`, as vLLM does). */
export function tokenChunk(h: ResponseHead, text: string, finishReason: string | null): object {
  const end =
    finishReason === null ? { finish_reason: null } : { finish_reason: finishReason, stop_reason: null };
  const choice =
    h.kind === "chat"
      ? { index: 0, delta: { content: text }, logprobs: null, ...end }
      : { index: 0, text, logprobs: null, ...end };
  return { id: h.id, object: object(h, true), created: h.created, model: h.model, choices: [choice] };
}

/** The final usage chunk: `choices: []`, after the last content chunk and before `[DONE]`. */
export function usageChunk(h: ResponseHead, u: Usage): object {
  return { id: h.id, object: object(h, true), created: h.created, model: h.model, choices: [], usage: u };
}

/** One SSE event. */
export function sse(data: object | "[DONE]"): string {
  return `data: ${data === "[DONE]" ? data : JSON.stringify(data)}\n\n`;
}

/** vLLM's error type names by status. */
function errorType(status: number): string {
  switch (status) {
    case 400:
      return "BadRequestError";
    case 404:
      return "NotFoundError";
    case 413:
      return "BadRequestError";
    case 503:
      return "ServiceUnavailableError";
    default:
      return "InternalServerError";
  }
}

/** The newer vLLM error envelope: `{"error": {message, type, param, code}}` with `code` equal to the status. */
export function errorBody(status: number, message: string, param: string | null = null): object {
  return { error: { message, type: errorType(status), param, code: status } };
}
