/**
 * Routing text from message content, shared by chat completions, Anthropic messages and responses.
 *
 * String content is used as is. In a content-part array, a text part (`type` `text`, `input_text` or
 * `output_text`) contributes its `text`, and any other part (image, audio, tool use, …) contributes its JSON
 * (`JSON.stringify` of the part). AIBrix writes the whole array as raw JSON bytes; keeping text parts as plain text
 * makes a text-only prompt hash the same whether it came as a string or as parts.
 *
 * @module
 */

import { badRequest, isJsonObject, rawJson } from "./fields";

/** `type` values of a content part whose `text` is taken as routing text. */
const TEXT_PART_TYPES: ReadonlySet<unknown> = new Set(["text", "input_text", "output_text"]);

/**
 * Append the routing-text segments of one `content` value to `out`: one segment per string content or per part.
 * `null` or absent content adds nothing.
 *
 * @param where - the field's path for messages, e.g. `messages[2].content`.
 * @param param - the OpenAI `param` reported on failure, e.g. `messages`.
 * @throws RouteError BadRequest (param `param`) when the content is neither string, array nor null, when a part is
 *   not an object, or when a text part's `text` is not a string.
 */
export function appendContent(out: string[], content: unknown, where: string, param: string): void {
  if (content === undefined || content === null) return;
  if (typeof content === "string") {
    out.push(content);
    return;
  }
  if (!Array.isArray(content)) {
    throw badRequest(`'${where}' must be a string or an array of content parts`, param);
  }
  for (let i = 0; i < content.length; i++) {
    const part: unknown = content[i];
    if (!isJsonObject(part)) throw badRequest(`'${where}[${i}]' must be a content part object`, param);
    if (TEXT_PART_TYPES.has(part["type"])) {
      const text = part["text"];
      if (typeof text !== "string") throw badRequest(`'${where}[${i}].text' must be a string`, param);
      out.push(text);
    } else {
      out.push(rawJson(part, param));
    }
  }
}
