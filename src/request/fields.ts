/**
 * Small readers for fields of a parsed JSON request body. Each one either returns a validated value or throws a
 * `RouteError(Code.BadRequest)` naming the field (`param`); none of them quotes request text in its message.
 *
 * JSON `null` counts as absent everywhere, as OpenAI's servers treat it.
 *
 * @module
 */

import { Code, RouteError } from "../errors";
import type { Prompt } from "./inference-request";

/** A JSON object as `JSON.parse` returns it (never an array). */
export type JsonObject = { readonly [key: string]: unknown };

/** AIBrix's wording for any body that is not valid UTF-8 JSON of the right shape. */
export const BODY_ERROR_MESSAGE = "error processing request body";

/** True for a JSON object (not `null`, not an array). */
export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** True for a token id: a non-negative safe integer. */
export function isTokenId(value: unknown): value is number {
  return typeof value === "number" && Number.isSafeInteger(value) && value >= 0;
}

/** A 400 `RouteError`; `param` names the field at fault, when there is one. */
export function badRequest(message: string, param?: string): RouteError {
  return new RouteError(Code.BadRequest, message, param === undefined ? {} : { param });
}

/** A text prompt. */
export function textPrompt(text: string): Prompt {
  return { t: "text", text };
}

/**
 * `obj[key]` as a string, or `undefined` when absent or `null`.
 *
 * @throws RouteError BadRequest "'key' must be a string" (param `key`) for any other type.
 */
export function readOptionalString(obj: JsonObject, key: string): string | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "string") throw badRequest(`'${key}' must be a string`, key);
  return value;
}

/**
 * `obj[key]` as a boolean, or `undefined` when absent or `null`.
 *
 * @param param - the name reported to the client (a dotted path for nested fields); defaults to `key`.
 * @throws RouteError BadRequest "'param' must be a boolean" for any other type.
 */
export function readOptionalBoolean(obj: JsonObject, key: string, param: string = key): boolean | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (typeof value !== "boolean") throw badRequest(`'${param}' must be a boolean`, param);
  return value;
}

/**
 * `obj[key]` as a non-negative safe integer, or `undefined` when absent or `null`.
 *
 * @throws RouteError BadRequest "'key' must be a non-negative integer" (param `key`) for anything else.
 */
export function readOptionalCount(obj: JsonObject, key: string): number | undefined {
  const value = obj[key];
  if (value === undefined || value === null) return undefined;
  if (!isTokenId(value)) throw badRequest(`'${key}' must be a non-negative integer`, key);
  return value;
}

/**
 * A value from the request body written back as JSON, the way AIBrix copies non-text content into the routing text.
 * Only ever called on small sub-trees (one content part), never on the whole body.
 *
 * @throws RouteError BadRequest "error processing request body" if the value nests too deeply to serialise.
 */
export function rawJson(value: unknown, param: string): string {
  try {
    return JSON.stringify(value);
  } catch {
    // Only a RangeError from absurd nesting can land here; the parsed tree has no cycles or BigInts.
    throw badRequest(BODY_ERROR_MESSAGE, param);
  }
}
