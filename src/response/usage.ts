/**
 * Token usage as reported by the model server in a response body, for OpenAI-compatible APIs (chat completions,
 * completions, embeddings), the OpenAI Responses API and the Anthropic Messages API.
 *
 * Where usage lives:
 * - `usage`: OpenAI chat/completions/embeddings bodies and stream chunks, Anthropic `message_delta` events;
 * - `response.usage`: Responses API bodies' stream events (`response.completed`, `response.incomplete`, ...);
 * - `message.usage`: Anthropic `message_start` events.
 *
 * Field names: `prompt_tokens`, else `input_tokens`; `completion_tokens`, else `output_tokens`; `total_tokens`.
 * Anthropic counts cache reads and writes apart from `input_tokens`, so `cache_creation_input_tokens` and
 * `cache_read_input_tokens` are added to `input_tokens` (never to `prompt_tokens`).
 *
 * @module
 */

/** Token counts of one finished (or partly streamed) response. All are non-negative integers. */
export interface Usage {
  /** Tokens in the prompt (input). */
  readonly promptTokens: number;
  /** Tokens generated (output). */
  readonly completionTokens: number;
  /** As reported by the server (`total_tokens`), else prompt + completion. */
  readonly totalTokens: number;
}

/**
 * The usage fields one object actually carries; any may be missing. Anthropic `message_delta` events carry only
 * `output_tokens`, the prompt count having come in `message_start`.
 */
export interface UsagePatch {
  readonly promptTokens?: number;
  readonly completionTokens?: number;
  readonly totalTokens?: number;
}

type JsonObject = Readonly<Record<string, unknown>>;

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** Where the usage object is: `usage`, else `response.usage`, else `message.usage`. */
function findUsageObject(value: unknown): JsonObject | undefined {
  if (!isObject(value)) return undefined;
  if (isObject(value["usage"])) return value["usage"];
  const response = value["response"];
  if (isObject(response) && isObject(response["usage"])) return response["usage"];
  const message = value["message"];
  if (isObject(message) && isObject(message["usage"])) return message["usage"];
  return undefined;
}

/** Marker for a field that is present but not a non-negative safe integer: the whole usage object is rejected. */
const INVALID = -1;

/** `undefined` when absent or null, `INVALID` when present but not a count, else the count. */
function count(obj: JsonObject, key: string): number | undefined {
  const v = obj[key];
  if (v === undefined || v === null) return undefined;
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : INVALID;
}

/**
 * Reads the usage fields present in a parsed body or stream event, without completing missing ones.
 *
 * @returns `undefined` when there is no usage object, when it carries no count at all, or when any count field it
 *   has is not a non-negative safe integer (a server bug; guessing would corrupt accounting).
 */
export function usagePatchFromJson(value: unknown): UsagePatch | undefined {
  const usage = findUsageObject(value);
  if (usage === undefined) return undefined;

  let prompt = count(usage, "prompt_tokens");
  if (prompt === undefined) {
    const input = count(usage, "input_tokens");
    const cacheWrite = count(usage, "cache_creation_input_tokens");
    const cacheRead = count(usage, "cache_read_input_tokens");
    if (input === INVALID || cacheWrite === INVALID || cacheRead === INVALID) return undefined;
    if (input !== undefined) prompt = input + (cacheWrite ?? 0) + (cacheRead ?? 0);
  }
  const completion = count(usage, "completion_tokens") ?? count(usage, "output_tokens");
  const total = count(usage, "total_tokens");
  if (prompt === INVALID || completion === INVALID || total === INVALID) return undefined;
  if (prompt === undefined && completion === undefined && total === undefined) return undefined;

  return {
    ...(prompt !== undefined && { promptTokens: prompt }),
    ...(completion !== undefined && { completionTokens: completion }),
    ...(total !== undefined && { totalTokens: total }),
  };
}

/**
 * Completes a patch into a `Usage`.
 *
 * A missing prompt or completion count is derived from the two others when the total is given (embeddings report
 * only `prompt_tokens` and `total_tokens`), else taken from `previous` (Anthropic `message_delta` after
 * `message_start`). A missing total is prompt + completion.
 *
 * @returns `undefined` when prompt or completion stays unknown, or a derived count would be negative.
 */
export function completeUsage(patch: UsagePatch, previous?: Usage): Usage | undefined {
  const { totalTokens: total } = patch;
  let prompt = patch.promptTokens;
  let completion = patch.completionTokens;
  if (total !== undefined) {
    if (prompt === undefined && completion !== undefined) prompt = total - completion;
    else if (completion === undefined && prompt !== undefined) completion = total - prompt;
  }
  prompt ??= previous?.promptTokens;
  completion ??= previous?.completionTokens;
  if (prompt === undefined || completion === undefined || prompt < 0 || completion < 0) return undefined;
  return { promptTokens: prompt, completionTokens: completion, totalTokens: total ?? prompt + completion };
}

/**
 * Extracts the usage of a parsed response body or stream event (see the module doc for the shapes understood).
 *
 * @param value a `JSON.parse` result; anything else is fine too (yields `undefined`).
 * @returns the usage, or `undefined` when absent, incomplete, or not made of non-negative safe integers.
 */
export function usageFromJson(value: unknown): Usage | undefined {
  const patch = usagePatchFromJson(value);
  return patch === undefined ? undefined : completeUsage(patch);
}
