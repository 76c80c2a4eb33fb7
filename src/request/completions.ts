/**
 * Routing text or token ids for `/v1/completions`.
 *
 * AIBrix reads `prompt` as a Go string only and rejects arrays; kvroute accepts the whole OpenAI union (see
 * `prompt-union.ts`) so token-id prompts can be routed too.
 *
 * @module
 */

import type { JsonObject } from "./fields";
import { badRequest } from "./fields";
import type { Prompt } from "./inference-request";
import { promptUnion } from "./prompt-union";

const WRONG_TYPE = "'prompt' must be a string, an array of strings, or an array of token ids";

/**
 * The prompt of a completions body.
 *
 * @throws RouteError BadRequest (param `prompt`): "'prompt' is a required property" when missing or null; a
 *   wrong-type message; empty string or array; token ids that are not non-negative integers.
 */
export function completionsPrompt(body: JsonObject): Prompt {
  const value = body["prompt"];
  if (value === undefined || value === null) throw badRequest("'prompt' is a required property", "prompt");
  const prompt = promptUnion(value, "prompt", WRONG_TYPE);
  if (prompt === undefined) throw badRequest(WRONG_TYPE, "prompt");
  return prompt;
}
