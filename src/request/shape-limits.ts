/**
 * Bounds on a request body's shape, checked before any per-item work: nesting depth (a byte scan before
 * `JSON.parse`) and the number of items the prompt extractors walk (messages, content parts, prompt arrays; after
 * `JSON.parse`, before the extractors). `JSON.parse` is linear, but what runs per item after it (prompt text, chat
 * turns, the JSON of non-text parts) costs far more per item than per byte: a body of a million empty messages
 * would otherwise hold the event loop for most of a second.
 *
 * @module
 */

import { Code, RouteError } from "../errors";
import type { JsonObject } from "./fields";
import { isJsonObject } from "./fields";
import type { Endpoint } from "./inference-request";

/** Which shape bound a body broke. */
export type ShapeBound = "messages" | "json-depth" | "json-containers" | "json-keys";

/** Shape limits of one parse. */
export interface ShapeLimits {
  /** Most items (messages, their content parts, prompt-array entries) in one body, counted together. */
  readonly maxItems: number;
  /** Deepest array/object nesting. */
  readonly maxDepth: number;
}

/** What the byte scan before `JSON.parse` allows ({@link scanBudgetFor} derives it from the limits). */
export interface ScanBudget {
  readonly maxDepth: number;
  /** Most arrays and objects in all. */
  readonly maxContainers: number;
  /** Most object keys in all. */
  readonly maxKeys: number;
  /** Most bytes of object keys in all (their JSON text, quotes excluded). */
  readonly maxKeyBytes: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;
const COLON = 0x3a;

/**
 * Most arrays and objects one body may hold, for an item bound of `maxItems`: room for every message or part to be
 * an object with a few nested objects of its own (16 each). `JSON.parse` costs about 0.2 µs per array or object, ten
 * times what it costs per byte of prompt text, so 4 MB of small nested arrays would hold the event loop for half a
 * second before any later check ran; at 16 × the default 4096 items the worst case is about 13 ms.
 */
export function maxContainersFor(maxItems: number): number {
  return Math.max(4096, 16 * maxItems);
}

/**
 * Most object keys one body may hold, for an item bound of `maxItems`: 8 per item, room for an agent's chat where
 * every turn carries a tool call (`role`, `content`, `tool_calls`, `id`, `type`, `function`, `name`, `arguments`).
 * Keys are what `JSON.parse` handles slowest: each distinct key name is hashed and interned, and objects with new key
 * sets each get a new hidden class. 4 MB of objects with distinct 6-byte keys (~350,000 of them) held the event loop
 * for 200–400 ms, against 3 ms for 4 MB of prompt text; 32,768 distinct keys (the default bound) take 15–25 ms at
 * worst, whatever their grouping into objects.
 */
export function maxKeysFor(maxItems: number): number {
  return Math.max(4096, 8 * maxItems);
}

/**
 * Most bytes of object keys one body may hold: 8 per allowed key. A key's bytes cost `JSON.parse` about 50 times what
 * a prompt's bytes do (each is hashed and compared when interned), so 32,768 distinct 60-byte keys (2 MB) took
 * ~100 ms; the byte bound keeps long keys within the cost of the short ones above. Real bodies' keys are field names
 * (`content`, `tool_call_id`), JSON-schema property names and token ids, a few bytes to a few dozen each.
 */
export function maxKeyBytesFor(maxItems: number): number {
  return 8 * maxKeysFor(maxItems);
}

/** The scan budget of `limits`. */
export function scanBudgetFor(limits: ShapeLimits): ScanBudget {
  return {
    maxDepth: limits.maxDepth,
    maxContainers: maxContainersFor(limits.maxItems),
    maxKeys: maxKeysFor(limits.maxItems),
    maxKeyBytes: maxKeyBytesFor(limits.maxItems),
  };
}

/**
 * The first shape bound the JSON text breaks before it is parsed: nesting deeper than `maxDepth`, more arrays and
 * objects than `maxContainers`, or more object keys (or key bytes) than `maxKeys` (`maxKeyBytes`). One pass:
 * brackets and colons outside strings are counted (a colon follows every key, and only keys); a string is skipped
 * with a native `indexOf` to its closing quote (a quote preceded by an odd run of backslashes is escaped), and its
 * length is a key's when a colon comes next. Malformed JSON is not judged here (`JSON.parse` rejects it next).
 */
export function scanShape(body: Uint8Array, budget: ScanBudget): Exclude<ShapeBound, "messages"> | undefined {
  let depth = 0;
  let containers = 0;
  let keys = 0;
  let keyBytes = 0;
  let lastString = 0;
  const n = body.length;
  for (let i = 0; i < n; i++) {
    const b = body[i];
    if (b === QUOTE) {
      const end = closingQuote(body, i);
      if (end === -1) return undefined;
      lastString = end - i - 1;
      i = end;
    } else if (b === COLON) {
      if (++keys > budget.maxKeys || (keyBytes += lastString) > budget.maxKeyBytes) return "json-keys";
    } else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > budget.maxDepth) return "json-depth";
      if (++containers > budget.maxContainers) return "json-containers";
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) {
      depth--;
    }
  }
  return undefined;
}

/** The index of the quote that closes the string opened at `open`, or -1 when the text ends first. */
function closingQuote(body: Uint8Array, open: number): number {
  let end = body.indexOf(QUOTE, open + 1);
  while (end !== -1) {
    let slashes = 0;
    while (body[end - 1 - slashes] === BACKSLASH) slashes++;
    if (slashes % 2 === 0) return end;
    end = body.indexOf(QUOTE, end + 1);
  }
  return -1;
}

/**
 * Whether `body` holds a whole JSON object: it opens with `{` (after whitespace), every string closes, and its
 * brackets outside strings balance by the last byte that is not whitespace, a `}`. A body cut anywhere before the
 * end of its top-level object fails this (its brackets cannot balance yet); it says nothing of the text's other
 * syntax, which `JSON.parse` judges. One linear pass.
 */
export function isWholeJsonObject(body: Uint8Array): boolean {
  let first = 0;
  while (first < body.length && isJsonSpace(body[first]!)) first++;
  let last = body.length - 1;
  while (last > first && isJsonSpace(body[last]!)) last--;
  if (body[first] !== OPEN_BRACE || body[last] !== CLOSE_BRACE) return false;
  let depth = 0;
  for (let i = first; i <= last; i++) {
    const b = body[i];
    if (b === QUOTE) {
      i = closingQuote(body, i);
      if (i === -1) return false;
    } else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      depth++;
    } else if ((b === CLOSE_BRACKET || b === CLOSE_BRACE) && --depth === 0) {
      return i === last;
    }
  }
  return false;
}

/** JSON's insignificant whitespace: space, tab, line feed, carriage return. */
function isJsonSpace(b: number): boolean {
  return b === 0x20 || b === 0x09 || b === 0x0a || b === 0x0d;
}

/** Whether the JSON text nests arrays/objects deeper than `maxDepth` (see {@link scanShape}). */
export function nestsDeeperThan(body: Uint8Array, maxDepth: number): boolean {
  const unbounded = Number.POSITIVE_INFINITY;
  const budget = { maxDepth, maxContainers: unbounded, maxKeys: unbounded, maxKeyBytes: unbounded };
  return scanShape(body, budget) === "json-depth";
}

/** The body fields each endpoint's prompt extractor walks item by item. */
const ITEM_FIELDS: { readonly [E in Endpoint]: readonly string[] } = {
  "chat-completions": ["messages"],
  messages: ["system", "messages"],
  responses: ["input"],
  completions: ["prompt"],
  embeddings: ["input"],
  rerank: ["documents"],
  classify: ["input"],
};

/**
 * The first of `endpoint`'s item fields at which the count of items (array entries, plus the entries of each
 * entry's `content` array) passes `maxItems`, or undefined. Token-id arrays are not counted: their entries are
 * numbers, validated at a few nanoseconds each. Reads at most `maxItems` entries, whatever the body holds.
 */
export function itemsBeyond(json: JsonObject, endpoint: Endpoint, maxItems: number): string | undefined {
  let count = 0;
  for (const field of ITEM_FIELDS[endpoint]) {
    const value = json[field];
    if (!Array.isArray(value)) continue;
    const items = value as unknown[];
    if (typeof items[0] === "number") continue;
    count += items.length;
    if (count > maxItems) return field;
    for (const item of items) {
      const content = isJsonObject(item) ? item["content"] : undefined;
      if (!Array.isArray(content)) continue;
      count += content.length;
      if (count > maxItems) return field;
    }
  }
  return undefined;
}

/** The 400 for a body over the item bound (OpenAI's code for an over-long array). */
export function tooManyItems(field: string, maxItems: number): RouteError {
  return new RouteError(
    Code.BadRequest,
    `'${field}' is too long: more than ${maxItems} items (messages and their content parts count together)`,
    { param: field, openaiCode: "array_above_max_length" },
  );
}

/** The 400 for a body holding more arrays and objects than {@link maxContainersFor} allows. */
export function tooManyContainers(maxContainers: number): RouteError {
  return new RouteError(Code.BadRequest, `request body holds more than ${maxContainers} arrays and objects`);
}

/** The 400 for a body holding more object keys, or bytes of them, than {@link maxKeysFor} allows. */
export function tooManyKeys(budget: ScanBudget): RouteError {
  return new RouteError(
    Code.BadRequest,
    `request body holds more than ${budget.maxKeys} object keys or ${budget.maxKeyBytes} bytes of them`,
  );
}

/** The 400 for a body nested too deeply. */
export function nestedTooDeeply(maxDepth: number): RouteError {
  return new RouteError(Code.BadRequest, `request body nests arrays/objects deeper than ${maxDepth} levels`);
}
