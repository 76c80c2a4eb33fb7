/**
 * The ext_proc benchmark's conversations, built deterministically and encoded once: what Envoy sends for one
 * streaming chat completion in BUFFERED request / STREAMED response mode.
 *
 * - request headers: 12 realistic headers plus `protocol_config`; only `x-request-id` changes per conversation,
 *   spliced into a copy of the pre-encoded message (same length, so no re-encoding);
 * - request body: an OpenAI chat body of about `promptTokens` tokens (≈ 4 characters of varied English per
 *   token, from a seeded PRNG over a word list), `end_of_stream: true`;
 * - response headers: `:status 200`, `text/event-stream`;
 * - response body: `SSE_CHUNKS` vLLM-style SSE chunks, the last carrying the usage event, `[DONE]` and
 *   `end_of_stream: true`.
 *
 * @module
 */
import type { ProcessingRequest } from "../src/extproc/messages";
import { seededRandom as prng } from "../src/seeded-random";

/** SSE chunks in the response body. */
export const SSE_CHUNKS = 20;
/** Characters of English text per token, roughly (cl100k on prose). */
export const CHARS_PER_TOKEN = 4;
/** Placeholder `x-request-id` in the encoded headers template; ids written per conversation have its length. */
const ID_PLACEHOLDER = "00000000-0000-4000-8000-000000000000";
const ID_COUNTER_DIGITS = 12;

/** One workload, every message already protobuf-encoded. */
export interface Workload {
  readonly name: string;
  readonly promptTokens: number;
  readonly headerCount: number;
  readonly requestBodyBytes: number;
  readonly responseBodyBytes: number;
  /** Encoded request-headers message for conversation number `seq` (unique `x-request-id`). */
  requestHeaders(seq: number): Buffer;
  /** The encoded request body (the first body of a pool, `extproc-pool.ts`). */
  readonly requestBody: Buffer;
  /**
   * The request body messages of conversation `seq`, sent back to back: one (BUFFERED) or the body's chunks
   * (STREAMED, the last with `end_of_stream`). Each gets one `request_body` reply; the last reply is the decision.
   */
  requestBodyMessages(seq: number): readonly Buffer[];
  readonly responseHeaders: Buffer;
  readonly responseBodyChunks: readonly Buffer[];
}

const WORDS = (
  "the a of to and in that is for it as with was on be by this are or from at an which have not but we can " +
  "they their has more were been one all would there also when will other its into only some these than time " +
  "system model request server cache memory latency throughput token prompt response router cluster node pod " +
  "network traffic queue batch scheduler policy metric average percentile budget capacity replica version " +
  "configuration deployment operator engineer customer report analysis summary document paragraph question " +
  "answer example result value problem solution approach method process service client header payload stream " +
  "history library language translation weather river mountain village harvest garden market kitchen recipe " +
  "morning evening winter summer journey station letter window country family teacher student museum painting " +
  "careful quick large small early late several different important possible available recent common simple " +
  "quietly rapidly usually often rarely clearly nearly exactly probably certainly together however therefore " +
  "describe explain compare improve measure reduce increase estimate balance predict review consider include " +
  "provide require suggest support observe discover remember prepare deliver collect organize translate"
).split(" ");

/** `chars` or a little more of varied English prose: sentences of 6–22 words, paragraphs of 3–7 sentences. */
export function englishText(chars: number, seed: number): string {
  const rand = prng(seed);
  const pick = (): string => WORDS[Math.floor(rand() * WORDS.length)] ?? "the";
  const parts: string[] = [];
  let length = 0;
  while (length < chars) {
    const sentences = 3 + Math.floor(rand() * 5);
    const paragraph: string[] = [];
    for (let s = 0; s < sentences; s++) {
      const n = 6 + Math.floor(rand() * 17);
      const words: string[] = [];
      for (let w = 0; w < n; w++) words.push(w > 2 && w < n - 2 && rand() < 0.08 ? `${pick()},` : pick());
      const first = words[0] ?? "the";
      words[0] = first.charAt(0).toUpperCase() + first.slice(1);
      paragraph.push(`${words.join(" ")}${rand() < 0.15 ? "?" : "."}`);
    }
    const text = paragraph.join(" ");
    parts.push(text);
    length += text.length + 2;
  }
  return parts.join("\n\n");
}

/** The chat-completions JSON body: system prompt, two user turns and an assistant turn, streaming with usage. */
export function chatBody(model: string, promptTokens: number, seed: number): string {
  const chars = promptTokens * CHARS_PER_TOKEN;
  const text = (share: number, s: number): string => englishText(Math.max(40, Math.round(chars * share)), s);
  return JSON.stringify({
    model,
    messages: [
      { role: "system", content: text(0.08, seed) },
      { role: "user", content: text(0.3, seed + 1) },
      { role: "assistant", content: text(0.22, seed + 2) },
      { role: "user", content: text(0.37, seed + 3) },
    ],
    stream: true,
    stream_options: { include_usage: true },
    max_tokens: 512,
    temperature: 0.7,
  });
}

/** The streamed response body cut into `SSE_CHUNKS` chunks; the last holds the usage event and `[DONE]`. */
export function sseChunks(model: string, promptTokens: number, seed: number): string[] {
  const rand = prng(seed);
  const head = { id: "chatcmpl-bench0001", object: "chat.completion.chunk", created: 1767225600, model };
  const event = (o: object): string => `data: ${JSON.stringify({ ...head, ...o })}\n\n`;
  const words = englishText(1200, seed).split(/\s+/);
  const out: string[] = [];
  let completionTokens = 0;
  for (let i = 0; i < SSE_CHUNKS - 1; i++) {
    const n = 3 + Math.floor(rand() * 5);
    completionTokens += n;
    const content = ` ${words.slice(i * 7, i * 7 + n).join(" ")}`;
    const finish = i === SSE_CHUNKS - 2 ? "stop" : null;
    const delta = i === 0 ? { role: "assistant", content } : { content };
    out.push(event({ choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }] }));
  }
  const usage = {
    prompt_tokens: promptTokens,
    completion_tokens: completionTokens,
    total_tokens: promptTokens + completionTokens,
  };
  out.push(event({ choices: [], usage }) + "data: [DONE]\n\n");
  return out;
}

export function headerMap(h: readonly (readonly [string, string])[]): {
  headers: { key: string; raw_value: Buffer }[];
} {
  return { headers: h.map(([key, v]) => ({ key, raw_value: Buffer.from(v, "latin1") })) };
}

/** Encoded request headers with a per-conversation `x-request-id` written into a copy (same length, no re-encode). */
export interface RequestHeadersTemplate {
  readonly headerCount: number;
  /** The message for conversation `seq`. */
  forSeq(seq: number): Buffer;
}

/**
 * The request-headers message Envoy sends for a chat completion of `bodyLength` bytes, with `protocol_config`
 * naming `requestBodyMode` (and STREAMED responses).
 *
 * @throws Error if the `x-request-id` placeholder cannot be located in the encoded headers.
 */
export function requestHeadersTemplate(
  encode: (m: ProcessingRequest) => Buffer,
  bodyLength: number,
  requestBodyMode: "BUFFERED" | "STREAMED",
): RequestHeadersTemplate {
  const headers: [string, string][] = [
    [":authority", "inference-gateway.example.com"],
    [":path", "/v1/chat/completions"],
    [":method", "POST"],
    [":scheme", "https"],
    ["content-type", "application/json"],
    ["content-length", String(bodyLength)],
    ["accept", "application/json"],
    ["user-agent", "OpenAI/Python 1.82.0"],
    ["authorization", "Bearer sk-bench-0123456789abcdef0123456789abcdef"],
    ["x-forwarded-for", "203.0.113.7"], // loopback-check: not-dialled (a header value)
    ["x-forwarded-proto", "https"],
    ["x-request-id", ID_PLACEHOLDER],
  ];
  const template = encode({
    protocol_config: { request_body_mode: requestBodyMode, response_body_mode: "STREAMED" },
    request_headers: { headers: headerMap(headers), end_of_stream: false },
  });
  const idAt = template.indexOf(ID_PLACEHOLDER, 0, "latin1");
  if (idAt < 0) throw new Error("x-request-id placeholder not found in the encoded headers");
  const counterAt = idAt + ID_PLACEHOLDER.length - ID_COUNTER_DIGITS;
  return {
    headerCount: headers.length,
    forSeq(seq) {
      const out = Buffer.from(template);
      out.write(seq.toString(16).padStart(ID_COUNTER_DIGITS, "0"), counterAt, ID_COUNTER_DIGITS, "latin1");
      return out;
    },
  };
}

/** The response-headers message of a vLLM SSE response. */
export function responseHeadersMessage(encode: (m: ProcessingRequest) => Buffer): Buffer {
  return encode({
    response_headers: {
      headers: headerMap([
        [":status", "200"],
        ["content-type", "text/event-stream; charset=utf-8"],
        ["cache-control", "no-cache"],
        ["date", "Thu, 01 Jan 2026 00:00:00 GMT"],
        ["server", "uvicorn"],
      ]),
      end_of_stream: false,
    },
  });
}

/** The SSE response body messages (`sseChunks`), the last with `end_of_stream`. */
export function responseBodyMessages(
  encode: (m: ProcessingRequest) => Buffer,
  chunks: readonly string[],
): Buffer[] {
  return chunks.map((c, i) =>
    encode({ response_body: { body: Buffer.from(c, "utf8"), end_of_stream: i === chunks.length - 1 } }),
  );
}

/**
 * Build and encode one workload: one body, repeated for every conversation. `encode` is the ext_proc
 * `ProcessingRequest` serializer (the same proto definition the servers use).
 *
 * @throws Error if the `x-request-id` placeholder cannot be located in the encoded headers.
 */
export function buildWorkload(
  name: string,
  model: string,
  promptTokens: number,
  encode: (m: ProcessingRequest) => Buffer,
): Workload {
  const body = Buffer.from(chatBody(model, promptTokens, promptTokens), "utf8");
  const headers = requestHeadersTemplate(encode, body.length, "BUFFERED");
  const chunks = sseChunks(model, promptTokens, promptTokens + 7);
  const requestBody = encode({ request_body: { body, end_of_stream: true } });
  return {
    name,
    promptTokens,
    headerCount: headers.headerCount,
    requestBodyBytes: body.length,
    responseBodyBytes: chunks.reduce((n, c) => n + Buffer.byteLength(c), 0),
    requestHeaders: (seq) => headers.forSeq(seq),
    requestBody,
    requestBodyMessages: () => [requestBody],
    responseHeaders: responseHeadersMessage(encode),
    responseBodyChunks: responseBodyMessages(encode, chunks),
  };
}
