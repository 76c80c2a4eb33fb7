/**
 * Routing text or token ids for `/v1/embeddings`.
 *
 * `input` is the OpenAI union (see `prompt-union.ts`) or, as AIBrix's fallback, an array of multimodal parts:
 * `{type}` with type `text`, `image_url`, `video_url`, `image` or `video`, or sglang's flat `{text}` / `{image}` /
 * `{video}`. Only text parts contribute routing text (joined with a single space); an image-only input routes on
 * the empty text. AIBrix's tiktoken size limits (8192 tokens per input, 300000 in all) are not applied here: the
 * model server enforces its own.
 *
 * @module
 */

import type { JsonObject } from "./fields";
import { badRequest, isJsonObject, textPrompt } from "./fields";
import type { Prompt } from "./inference-request";
import { promptUnion } from "./prompt-union";

const WRONG_TYPE =
  "'input' must be a string, an array of strings, an array of token ids, or an array of multimodal parts";

const PART_TYPES: ReadonlySet<unknown> = new Set(["text", "image_url", "video_url", "image", "video"]);

/**
 * The prompt of an embeddings body.
 *
 * @throws RouteError BadRequest: "stream not supported for embeddings" (param `stream`) when `stream` is present and
 *   neither `false` nor null; (param `input`) "'input' is a required property", a wrong-type message, empty
 *   input, or token ids that are not non-negative integers.
 */
export function embeddingsPrompt(body: JsonObject): Prompt {
  const stream = body["stream"];
  if (stream !== undefined && stream !== null && stream !== false) {
    throw badRequest("stream not supported for embeddings", "stream");
  }
  const value = body["input"];
  if (value === undefined || value === null) throw badRequest("'input' is a required property", "input");
  const prompt = promptUnion(value, "input", WRONG_TYPE);
  if (prompt !== undefined) return prompt;
  if (Array.isArray(value) && isJsonObject(value[0])) return textPrompt(multimodalText(value as unknown[]));
  throw badRequest(WRONG_TYPE, "input");
}

function multimodalText(parts: readonly unknown[]): string {
  const texts: string[] = [];
  for (const part of parts) {
    if (!isJsonObject(part)) throw badRequest(WRONG_TYPE, "input");
    const type = part["type"];
    const text = part["text"];
    if (type === undefined) {
      // sglang's flat form: exactly what the part holds decides its kind.
      if (typeof text === "string") texts.push(text);
      else if (part["image"] === undefined && part["video"] === undefined)
        throw badRequest(WRONG_TYPE, "input");
    } else if (!PART_TYPES.has(type)) {
      throw badRequest(WRONG_TYPE, "input");
    } else if (type === "text") {
      if (typeof text !== "string") throw badRequest("'input' text parts must have a string 'text'", "input");
      texts.push(text);
    }
  }
  return texts.join(" ");
}
