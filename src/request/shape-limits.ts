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
export type ShapeBound = "messages" | "json-depth" | "json-containers";

/** Shape limits of one parse. */
export interface ShapeLimits {
  /** Most items (messages, their content parts, prompt-array entries) in one body, counted together. */
  readonly maxItems: number;
  /** Deepest array/object nesting. */
  readonly maxDepth: number;
}

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const OPEN_BRACKET = 0x5b;
const CLOSE_BRACKET = 0x5d;
const OPEN_BRACE = 0x7b;
const CLOSE_BRACE = 0x7d;

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
 * The first shape bound the JSON text breaks before it is parsed: nesting deeper than `maxDepth`, or more than
 * `maxContainers` arrays and objects in all. One pass: brackets outside strings are counted; a string is skipped
 * with a native `indexOf` to its closing quote (a quote preceded by an odd run of backslashes is escaped). Malformed
 * JSON is not judged here (`JSON.parse` rejects it next).
 */
export function scanShape(
  body: Uint8Array,
  maxDepth: number,
  maxContainers: number,
): "json-depth" | "json-containers" | undefined {
  let depth = 0;
  let containers = 0;
  const n = body.length;
  for (let i = 0; i < n; i++) {
    const b = body[i];
    if (b === QUOTE) {
      let end = body.indexOf(QUOTE, i + 1);
      while (end !== -1) {
        let slashes = 0;
        while (body[end - 1 - slashes] === BACKSLASH) slashes++;
        if (slashes % 2 === 0) break;
        end = body.indexOf(QUOTE, end + 1);
      }
      if (end === -1) return undefined;
      i = end;
    } else if (b === OPEN_BRACKET || b === OPEN_BRACE) {
      if (++depth > maxDepth) return "json-depth";
      if (++containers > maxContainers) return "json-containers";
    } else if (b === CLOSE_BRACKET || b === CLOSE_BRACE) {
      depth--;
    }
  }
  return undefined;
}

/** Whether the JSON text nests arrays/objects deeper than `maxDepth` (see {@link scanShape}). */
export function nestsDeeperThan(body: Uint8Array, maxDepth: number): boolean {
  return scanShape(body, maxDepth, Number.POSITIVE_INFINITY) === "json-depth";
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

/** The 400 for a body nested too deeply. */
export function nestedTooDeeply(maxDepth: number): RouteError {
  return new RouteError(Code.BadRequest, `request body nests arrays/objects deeper than ${maxDepth} levels`);
}
