/**
 * Routing text for `/v1/responses`: `instructions` (when a non-empty string), then `input` — a string used as is, or
 * each input item's text (a string item as is, an object item's `content` as for chat), joined with a single space.
 * Items without `content` (function calls, their outputs, …) add nothing.
 *
 * @module
 */

import { appendContent } from "./content-parts";
import type { JsonObject } from "./fields";
import { badRequest, isJsonObject, readOptionalString, textPrompt } from "./fields";
import type { Prompt } from "./inference-request";

const WRONG_TYPE = "'input' must be a string or an array of input items";

/**
 * The prompt of a responses body. An empty string `input` is accepted, as AIBrix does.
 *
 * @throws RouteError BadRequest (param `input`, AIBrix wording): "'input' is a required property", "'input' must be a
 *   string or an array of input items", "'input' array cannot be empty", or bad item content; (param
 *   `instructions`) "'instructions' must be a string".
 */
export function responsesPrompt(body: JsonObject): Prompt {
  const out: string[] = [];
  const instructions = readOptionalString(body, "instructions");
  if (instructions !== undefined && instructions.length > 0) out.push(instructions);

  const input = body["input"];
  if (input === undefined || input === null) throw badRequest("'input' is a required property", "input");
  if (typeof input === "string") {
    out.push(input);
  } else if (Array.isArray(input)) {
    const items = input as unknown[];
    if (items.length === 0) throw badRequest("'input' array cannot be empty", "input");
    for (let i = 0; i < items.length; i++) {
      const item = items[i];
      if (typeof item === "string") out.push(item);
      else if (isJsonObject(item)) appendContent(out, item["content"], `input[${i}].content`, "input");
      else throw badRequest(WRONG_TYPE, "input");
    }
  } else {
    throw badRequest(WRONG_TYPE, "input");
  }
  return textPrompt(out.join(" "));
}
