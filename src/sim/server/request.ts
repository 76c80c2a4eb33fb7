/**
 * The simulator's own reading of an OpenAI request body (`/v1/chat/completions`, `/v1/completions`,
 * `/tokenize`). It is deliberately independent of kvroute's request parser: the simulator stands in for vLLM, so
 * a bug in kvroute's parser shows up as a disagreement instead of being shared by both sides.
 *
 * The prompt text follows the simple rule that kvroute documents for routing (docs/routing.md): a chat is its
 * message contents joined with one space (roles ignored; a content-part array contributes each text part's
 * `text`, any other part its JSON); a completion prompt is the string, or an array of strings joined with one
 * space, or token ids (the first list of a batch). The conversation (role + content per message) is kept for a
 * tokenizer with a chat template.
 *
 * @module
 */

/** A prompt the engine tokenizes (`text`) or takes as is (`tokens`). */
export type SimPrompt =
  { readonly t: "text"; readonly text: string } | { readonly t: "tokens"; readonly ids: number[] };

/** One message of a chat, for a chat template. */
export interface SimTurn {
  readonly role: string;
  readonly content: string;
}

/** What the simulated pod needs from a generate request. */
export interface SimRequest {
  readonly model: string;
  readonly stream: boolean;
  readonly includeUsage: boolean;
  /** `max_completion_tokens` or `max_tokens`; absent (or 0) when not given. */
  readonly maxTokens: number | undefined;
  readonly prompt: SimPrompt;
  /** Present for chat bodies. */
  readonly chat?: readonly SimTurn[];
  /** vLLM's `kv_transfer_params` (P/D disaggregation), when the body carries an object there. */
  readonly kvTransfer?: SimKvTransferParams;
}

/**
 * What the simulator reads of vLLM's `kv_transfer_params` (the NIXL connector's fields): a prefill request asks
 * `do_remote_decode`; a decode request carries `do_remote_prefill` with the prefill pod's `remote_block_ids` (and
 * its engine, host and port, which the simulator does not need: every pull is timed, none is performed).
 */
export interface SimKvTransferParams {
  readonly doRemoteDecode: boolean;
  readonly doRemotePrefill: boolean;
  /** Length of `remote_block_ids` (of its first KV-cache group when it is a list of lists); 0 when absent. */
  readonly remoteBlocks: number;
}

/** A body the simulator rejects with 400 (vLLM's BadRequestError), naming the offending field. */
export class SimRequestError extends Error {
  constructor(
    message: string,
    readonly param: string | null = null,
  ) {
    super(message);
  }
}

type Obj = Record<string, unknown>;

function isObject(v: unknown): v is Obj {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Parse JSON text into an object, or throw {@link SimRequestError}. */
export function jsonObject(raw: Buffer): Obj {
  let body: unknown;
  try {
    body = JSON.parse(raw.toString("utf8"));
  } catch {
    throw new SimRequestError("error processing request body");
  }
  if (!isObject(body)) throw new SimRequestError("error processing request body");
  return body;
}

const TEXT_PARTS: ReadonlySet<unknown> = new Set(["text", "input_text", "output_text"]);

/** The text segments of one message's `content`. */
function contentSegments(content: unknown, i: number): string[] {
  if (content === undefined || content === null) return [];
  if (typeof content === "string") return [content];
  if (!Array.isArray(content))
    throw new SimRequestError(`messages[${i}].content has a wrong type`, "messages");
  return content.map((part: unknown) => {
    if (!isObject(part))
      throw new SimRequestError(`messages[${i}].content part is not an object`, "messages");
    if (!TEXT_PARTS.has(part["type"])) return JSON.stringify(part);
    const text = part["text"];
    if (typeof text !== "string")
      throw new SimRequestError(`messages[${i}] text is not a string`, "messages");
    return text;
  });
}

/** The conversation and its routing text; throws on a missing, empty or malformed `messages`. */
export function chatOf(body: Obj): { turns: SimTurn[]; text: string } {
  const messages = body["messages"];
  if (!Array.isArray(messages) || messages.length === 0)
    throw new SimRequestError("'messages' must be a non-empty array", "messages");
  const turns: SimTurn[] = [];
  const all: string[] = [];
  messages.forEach((m: unknown, i) => {
    if (!isObject(m)) throw new SimRequestError(`messages[${i}] is not an object`, "messages");
    const segments = contentSegments(m["content"], i);
    all.push(...segments);
    turns.push({ role: typeof m["role"] === "string" ? m["role"] : "user", content: segments.join(" ") });
  });
  return { turns, text: all.join(" ") };
}

function isTokenId(v: unknown): v is number {
  return typeof v === "number" && Number.isInteger(v) && v >= 0;
}

/** A completions `prompt`: string, string[], number[] or number[][] (the first list). */
export function completionPrompt(value: unknown): SimPrompt {
  const bad = (): SimRequestError =>
    new SimRequestError("'prompt' must be a string, strings or token ids", "prompt");
  if (typeof value === "string" && value !== "") return { t: "text", text: value };
  if (!Array.isArray(value) || value.length === 0) throw bad();
  if (value.every((s) => typeof s === "string" && s !== "")) return { t: "text", text: value.join(" ") };
  const ids: unknown = Array.isArray(value[0]) ? value[0] : value;
  if (!Array.isArray(ids) || ids.length === 0 || !ids.every(isTokenId)) throw bad();
  return { t: "tokens", ids };
}

function optionalBoolean(o: Obj, key: string): boolean {
  const v = o[key];
  if (v === undefined || v === null) return false;
  if (typeof v !== "boolean") throw new SimRequestError(`'${key}' must be a boolean`, key);
  return v;
}

/**
 * `kv_transfer_params`, or undefined when absent or null. Types are checked as vLLM's pydantic model would;
 * `remote_block_ids` is only counted (its ids name blocks on the prefill pod, which the simulator never reads).
 */
function kvTransferOf(body: Obj): SimKvTransferParams | undefined {
  const v = body["kv_transfer_params"];
  if (v === undefined || v === null) return undefined;
  if (!isObject(v)) throw new SimRequestError("'kv_transfer_params' must be an object", "kv_transfer_params");
  const flag = (key: string): boolean => {
    const f = v[key];
    if (f === undefined || f === null) return false;
    if (typeof f !== "boolean")
      throw new SimRequestError(`'kv_transfer_params.${key}' must be a boolean`, "kv_transfer_params");
    return f;
  };
  const ids = v["remote_block_ids"];
  let remoteBlocks = 0;
  if (ids !== undefined && ids !== null) {
    // vLLM ≥ 0.11 may send one list per KV-cache group; every group covers the same tokens.
    const first: unknown = Array.isArray(ids) && Array.isArray(ids[0]) ? ids[0] : ids;
    if (!Array.isArray(first) || !first.every(isTokenId))
      throw new SimRequestError(
        "'kv_transfer_params.remote_block_ids' must be a list of block ids",
        "kv_transfer_params",
      );
    remoteBlocks = first.length;
  }
  return {
    doRemoteDecode: flag("do_remote_decode"),
    doRemotePrefill: flag("do_remote_prefill"),
    remoteBlocks,
  };
}

function maxTokensOf(body: Obj): number | undefined {
  for (const key of ["max_completion_tokens", "max_tokens"]) {
    const v = body[key];
    if (v === undefined || v === null) continue;
    if (!isTokenId(v)) throw new SimRequestError(`'${key}' must be a non-negative integer`, key);
    return v === 0 ? undefined : v;
  }
  return undefined;
}

/** Read a generate body (`chat` for `/v1/chat/completions`, else `/v1/completions`). */
export function parseGenerate(raw: Buffer, kind: "chat" | "completions"): SimRequest {
  const body = jsonObject(raw);
  const model = body["model"];
  if (typeof model !== "string" || model === "") throw new SimRequestError("'model' is required", "model");
  const options = body["stream_options"];
  if (options !== undefined && options !== null && !isObject(options))
    throw new SimRequestError("'stream_options' must be an object", "stream_options");
  const kvTransfer = kvTransferOf(body);
  const common = {
    model,
    stream: optionalBoolean(body, "stream"),
    includeUsage: isObject(options) && optionalBoolean(options, "include_usage"),
    maxTokens: maxTokensOf(body),
    ...(kvTransfer === undefined ? {} : { kvTransfer }),
  };
  if (kind === "completions") return { ...common, prompt: completionPrompt(body["prompt"]) };
  const { turns, text } = chatOf(body);
  return { ...common, prompt: { t: "text", text }, chat: turns };
}
