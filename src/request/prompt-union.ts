/**
 * The OpenAI prompt union shared by `/v1/completions` (`prompt`) and `/v1/embeddings` (`input`): a string, an array
 * of strings, an array of token ids, or an array of token-id arrays.
 *
 * @module
 */

import { badRequest, isTokenId, textPrompt } from "./fields";
import type { Prompt } from "./inference-request";

/**
 * Classify `value` as one of the four union shapes.
 *
 * - string → text; string[] → the strings joined with a single space (as chat contents are).
 * - number[] → one token-id prompt; number[][] → one token-id prompt per inner array.
 *
 * Returns `undefined` when `value` is not shaped like the union at all (wrong type, or an array whose first element
 * is neither string, number nor array), so the caller can try another shape or report its own wrong-type message.
 *
 * @param param - the field name, for messages and `param`.
 * @param wrongType - the message used when an array starts like the union but holds an element of another type.
 * @throws RouteError BadRequest (param `param`): "'param' must not be empty" for an empty string or array (also
 *   inside an array); "'param' token ids must be non-negative integers"; `wrongType` for a mixed array.
 */
export function promptUnion(value: unknown, param: string, wrongType: string): Prompt | undefined {
  if (typeof value === "string") {
    if (value.length === 0) throw empty(param);
    return textPrompt(value);
  }
  if (!Array.isArray(value)) return undefined;
  const items = value as unknown[];
  if (items.length === 0) throw empty(param);
  const first = items[0];
  if (typeof first === "string") return textPrompt(joinStrings(items, param, wrongType));
  if (typeof first === "number") return { t: "tokens", ids: [tokenIds(items, param, wrongType)] };
  if (Array.isArray(first)) {
    const ids: number[][] = [];
    for (const inner of items) {
      if (!Array.isArray(inner)) throw badRequest(wrongType, param);
      ids.push(tokenIds(inner as unknown[], param, wrongType));
    }
    return { t: "tokens", ids };
  }
  return undefined;
}

function joinStrings(items: readonly unknown[], param: string, wrongType: string): string {
  for (const item of items) {
    if (typeof item !== "string") throw badRequest(wrongType, param);
    if (item.length === 0) throw empty(param);
  }
  return (items as string[]).join(" ");
}

/** Validates in place and returns the same array, so a multi-MB token list is not copied. */
function tokenIds(items: readonly unknown[], param: string, wrongType: string): number[] {
  if (items.length === 0) throw empty(param);
  for (const item of items) {
    if (typeof item !== "number") throw badRequest(wrongType, param);
    if (!isTokenId(item)) throw badRequest(`'${param}' token ids must be non-negative integers`, param);
  }
  return items as number[];
}

function empty(param: string): ReturnType<typeof badRequest> {
  return badRequest(`'${param}' must not be empty`, param);
}
