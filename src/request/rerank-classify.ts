/**
 * Routing text for the pooling endpoints `/v1/rerank` (query, then every document, joined with a single space) and
 * `/v1/classify` (the input strings joined with a single space).
 *
 * @module
 */

import type { JsonObject } from "./fields";
import { badRequest, isJsonObject, textPrompt } from "./fields";
import type { Prompt } from "./inference-request";

/**
 * The prompt of a rerank body: `query` (a string) and `documents` (a non-empty array of strings or of objects with a
 * string `text`), both required.
 *
 * @throws RouteError BadRequest: (param `query`) "'query' is a required property", "'query' must be a string";
 *   (param `documents`) "'documents' is a required property", "'documents' must be an array", "'documents' array
 *   cannot be empty", or a document of the wrong shape.
 */
export function rerankPrompt(body: JsonObject): Prompt {
  const query = body["query"];
  if (query === undefined || query === null) throw badRequest("'query' is a required property", "query");
  if (typeof query !== "string") throw badRequest("'query' must be a string", "query");

  const documents = body["documents"];
  if (documents === undefined || documents === null) {
    throw badRequest("'documents' is a required property", "documents");
  }
  if (!Array.isArray(documents)) throw badRequest("'documents' must be an array", "documents");
  const docs = documents as unknown[];
  if (docs.length === 0) throw badRequest("'documents' array cannot be empty", "documents");

  const out: string[] = [query];
  for (let i = 0; i < docs.length; i++) {
    const doc = docs[i];
    if (typeof doc === "string") {
      out.push(doc);
    } else if (isJsonObject(doc) && typeof doc["text"] === "string") {
      out.push(doc["text"]);
    } else {
      throw badRequest(`'documents[${i}]' must be a string or an object with a string 'text'`, "documents");
    }
  }
  return textPrompt(out.join(" "));
}

const CLASSIFY_WRONG_TYPE = "'input' must be a string or an array of strings";

/**
 * The prompt of a classify body: `input`, a non-empty string or a non-empty array of strings.
 *
 * @throws RouteError BadRequest (param `input`): "'input' is a required property", "'input' must be a string or an
 *   array of strings", "'input' must not be empty" (also for an empty string inside the array), "'input' array
 *   cannot be empty".
 */
export function classifyPrompt(body: JsonObject): Prompt {
  const input = body["input"];
  if (input === undefined || input === null) throw badRequest("'input' is a required property", "input");
  if (typeof input === "string") {
    if (input.length === 0) throw badRequest("'input' must not be empty", "input");
    return textPrompt(input);
  }
  if (!Array.isArray(input)) throw badRequest(CLASSIFY_WRONG_TYPE, "input");
  const items = input as unknown[];
  if (items.length === 0) throw badRequest("'input' array cannot be empty", "input");
  for (const item of items) {
    if (typeof item !== "string") throw badRequest(CLASSIFY_WRONG_TYPE, "input");
    if (item.length === 0) throw badRequest("'input' must not be empty", "input");
  }
  return textPrompt((items as string[]).join(" "));
}
