/**
 * The request-body parser: picks the endpoint from `:path`, decodes and parses the body once, validates the fields
 * every endpoint shares and hands the body to the endpoint's prompt extractor (one file per endpoint family).
 *
 * Pure and synchronous: no I/O, no logging, no module state. Runs on the event loop for every request, so the body
 * is decoded once, parsed once with `JSON.parse`, and never re-serialised as a whole.
 *
 * @module
 */

import { Code, RouteError } from "../errors";
import { anthropicMessagesPrompt, chatPrompt, chatTurns } from "./chat";
import { completionsPrompt } from "./completions";
import { embeddingsPrompt } from "./embeddings";
import type { JsonObject } from "./fields";
import {
  BODY_ERROR_MESSAGE,
  badRequest,
  isJsonObject,
  readOptionalBoolean,
  readOptionalCount,
  readOptionalString,
} from "./fields";
import type { Endpoint, InferenceRequest, Prompt } from "./inference-request";
import { responsesPrompt } from "./responses";
import type { ShapeBound, ShapeLimits } from "./shape-limits";
import {
  itemsBeyond,
  nestedTooDeeply,
  scanBudgetFor,
  scanShape,
  tooManyContainers,
  tooManyItems,
  tooManyKeys,
} from "./shape-limits";
import { classifyPrompt, rerankPrompt } from "./rerank-classify";

/** Limits applied while parsing. */
export interface ParseLimits {
  /** Largest accepted body, in bytes (a positive integer). A larger body fails with `Code.PayloadTooLarge`. */
  readonly maxBodyBytes: number;
  /** Bounds on the body's shape (items, nesting), checked before any per-item work; absent = none. */
  readonly shape?: ShapeLimits;
  /** Told which shape bound a refused body broke (for a counter). */
  readonly onShapeBound?: (bound: ShapeBound) => void;
}

/** Exact `:path` (query string removed) → endpoint. */
const ENDPOINT_BY_PATH: ReadonlyMap<string, Endpoint> = new Map<string, Endpoint>([
  ["/v1/chat/completions", "chat-completions"],
  ["/v1/completions", "completions"],
  ["/v1/embeddings", "embeddings"],
  ["/v1/responses", "responses"],
  ["/v1/messages", "messages"],
  ["/v1/rerank", "rerank"],
  ["/v1/classify", "classify"],
]);

/** Each endpoint's prompt extractor; each validates its own fields and throws `RouteError(BadRequest)`. */
const PROMPT_OF: { readonly [E in Endpoint]: (body: JsonObject) => Prompt } = {
  "chat-completions": chatPrompt,
  completions: completionsPrompt,
  embeddings: embeddingsPrompt,
  responses: responsesPrompt,
  messages: anthropicMessagesPrompt,
  rerank: rerankPrompt,
  classify: classifyPrompt,
};

/** Max-tokens fields, most specific first; the first one present wins. */
const MAX_TOKENS_FIELDS = ["max_completion_tokens", "max_tokens", "max_output_tokens"] as const;

/**
 * Strict UTF-8: invalid bytes throw instead of becoming U+FFFD. `ignoreBOM` keeps a byte-order mark in the text so
 * `JSON.parse` rejects it, as AIBrix's JSON decoder does. Stateless between `decode` calls (no `stream` option).
 */
const UTF8 = new TextDecoder("utf-8", { fatal: true, ignoreBOM: true });

/** `path` without its query string and fragment. */
export function stripQuery(path: string): string {
  let end = path.length;
  const query = path.indexOf("?");
  if (query !== -1) end = query;
  const fragment = path.indexOf("#");
  if (fragment !== -1 && fragment < end) end = fragment;
  return end === path.length ? path : path.slice(0, end);
}

/**
 * The endpoint a `:path` names, ignoring its query string and fragment; `undefined` for any other path. Paths match
 * exactly (case-sensitive, no trailing slash). Called at request-headers time to reject unknown paths early.
 *
 * @example endpointForPath("/v1/chat/completions?x=1") // "chat-completions"
 */
export function endpointForPath(path: string): Endpoint | undefined {
  return ENDPOINT_BY_PATH.get(stripQuery(path));
}

/**
 * Parse and validate one buffered request body.
 *
 * Checks, in order: the path; the size (`body.byteLength > limits.maxBodyBytes`); a non-empty body; the nesting
 * depth (`limits.shape`); UTF-8 and JSON validity; a top-level object; the item count (`limits.shape`); `model`; `stream`, `stream_options.include_usage`, `user`, max tokens; then the
 * endpoint's own fields. JSON `null` counts as absent for optional fields.
 *
 * @param path - the `:path` header; its query string and fragment are ignored.
 * @param body - the whole request body.
 * @throws RouteError `Code.UnknownPath` "unknown request path"; `Code.PayloadTooLarge`; `Code.BadRequest` with
 *   `param` set to the field at fault when there is one ("request body is required", "error processing request
 *   body" for invalid UTF-8, invalid JSON or a non-object, "'model' is a required property", …). Messages never
 *   quote the body.
 */
export function parseRequest(path: string, body: Uint8Array, limits: ParseLimits): InferenceRequest {
  const cleanPath = stripQuery(path);
  const endpoint = ENDPOINT_BY_PATH.get(cleanPath);
  if (endpoint === undefined) throw new RouteError(Code.UnknownPath, "unknown request path");

  const bodyBytes = body.byteLength;
  if (bodyBytes > limits.maxBodyBytes) {
    throw new RouteError(
      Code.PayloadTooLarge,
      `request body of ${bodyBytes} bytes exceeds the limit of ${limits.maxBodyBytes} bytes`,
    );
  }
  if (bodyBytes === 0) throw badRequest("request body is required");

  const shape = limits.shape;
  const budget = shape && scanBudgetFor(shape);
  const broken = budget && scanShape(body, budget);
  if (budget && broken) {
    limits.onShapeBound?.(broken);
    throw broken === "json-depth"
      ? nestedTooDeeply(budget.maxDepth)
      : broken === "json-containers"
        ? tooManyContainers(budget.maxContainers)
        : tooManyKeys(budget);
  }
  const json = decodeJson(body);
  const crowded = shape === undefined ? undefined : itemsBeyond(json, endpoint, shape.maxItems);
  if (shape !== undefined && crowded !== undefined) {
    limits.onShapeBound?.("messages");
    throw tooManyItems(crowded, shape.maxItems);
  }
  const model = readModel(json);
  const stream = readOptionalBoolean(json, "stream") ?? false;
  const includeUsage = readIncludeUsage(json);
  const user = readOptionalString(json, "user");
  const maxTokens = readMaxTokens(json);
  const prompt = PROMPT_OF[endpoint](json);

  return {
    endpoint,
    path: cleanPath,
    model,
    stream,
    includeUsage,
    user: user === "" ? undefined : user,
    maxTokens,
    prompt,
    ...(endpoint === "chat-completions" || endpoint === "messages" ? { chat: chatTurns(json) } : {}),
    promptTokens: estimatePromptTokens(prompt),
    bodyBytes,
  };
}

/**
 * Decode and parse the body. Neither the decoder's nor `JSON.parse`'s error is kept as `cause`: V8's syntax errors
 * quote the body around the fault, and causes reach the logs.
 */
function decodeJson(body: Uint8Array): JsonObject {
  let json: unknown;
  try {
    json = JSON.parse(UTF8.decode(body));
  } catch {
    throw badRequest(BODY_ERROR_MESSAGE);
  }
  if (!isJsonObject(json)) throw badRequest(BODY_ERROR_MESSAGE);
  return json;
}

/** An empty `model` counts as missing, as in AIBrix's responses check (Go's zero string). */
function readModel(json: JsonObject): string {
  const model = json["model"];
  if (typeof model === "string") {
    if (model.length > 0) return model;
  } else if (model !== undefined && model !== null) {
    throw badRequest("'model' must be a string", "model");
  }
  throw badRequest("'model' is a required property", "model");
}

function readIncludeUsage(json: JsonObject): boolean {
  const options = json["stream_options"];
  if (options === undefined || options === null) return false;
  if (!isJsonObject(options)) throw badRequest("'stream_options' must be an object", "stream_options");
  return readOptionalBoolean(options, "include_usage", "stream_options.include_usage") ?? false;
}

/**
 * Every max-tokens field present is validated; the first present one (in `MAX_TOKENS_FIELDS` order) is reported.
 * 0 is valid but reported as `undefined`, as AIBrix's Go zero value reads as "not set".
 */
function readMaxTokens(json: JsonObject): number | undefined {
  let found: number | undefined;
  for (const key of MAX_TOKENS_FIELDS) {
    const value = readOptionalCount(json, key);
    if (found === undefined) found = value;
  }
  return found === 0 ? undefined : found;
}

/** Exact count for token-id prompts; ceil(UTF-16 length / 4) for text. */
function estimatePromptTokens(prompt: Prompt): number {
  if (prompt.t === "text") return Math.ceil(prompt.text.length / 4);
  let total = 0;
  for (const ids of prompt.ids) total += ids.length;
  return total;
}
