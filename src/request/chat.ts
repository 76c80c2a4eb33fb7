/**
 * Routing text for `/v1/chat/completions` (OpenAI) and `/v1/messages` (Anthropic): every message's content, in
 * order, joined with a single space; roles are ignored. For `/v1/messages` the top-level `system` comes first.
 *
 * @module
 */

import { appendContent } from "./content-parts";
import type { JsonObject } from "./fields";
import { badRequest, isJsonObject, textPrompt } from "./fields";
import type { ChatTurn, Prompt } from "./inference-request";

/**
 * The prompt of a chat-completions body.
 *
 * @throws RouteError BadRequest (param `messages`): "no messages in the request body" when `messages` is missing,
 *   not an array or empty; a message that is not an object; content that is neither string, array nor null.
 */
export function chatPrompt(body: JsonObject): Prompt {
  const out: string[] = [];
  appendMessages(out, body["messages"]);
  return textPrompt(out.join(" "));
}

/**
 * The prompt of an Anthropic messages body: `system` (a string, or an array of `{type:"text", text}` blocks), then
 * the messages as for chat.
 *
 * @throws RouteError BadRequest as `chatPrompt`, and (param `system`) when `system` has the wrong shape.
 */
export function anthropicMessagesPrompt(body: JsonObject): Prompt {
  const out: string[] = [];
  appendSystem(out, body["system"]);
  appendMessages(out, body["messages"]);
  return textPrompt(out.join(" "));
}

function appendMessages(out: string[], messages: unknown): void {
  if (!Array.isArray(messages) || messages.length === 0) {
    throw badRequest("no messages in the request body", "messages");
  }
  for (let i = 0; i < messages.length; i++) {
    const message: unknown = messages[i];
    if (!isJsonObject(message)) throw badRequest(`'messages[${i}]' must be an object`, "messages");
    appendContent(out, message["content"], `messages[${i}].content`, "messages");
  }
}

const SYSTEM_SHAPE = "'system' must be a string or an array of text blocks";

/** An empty `system` adds no segment, so it does not put a leading space before the first message. */
function appendSystem(out: string[], system: unknown): void {
  if (system === undefined || system === null) return;
  if (typeof system === "string") {
    if (system.length > 0) out.push(system);
    return;
  }
  if (!Array.isArray(system)) throw badRequest(SYSTEM_SHAPE, "system");
  for (const block of system as unknown[]) {
    if (!isJsonObject(block) || block["type"] !== "text" || typeof block["text"] !== "string") {
      throw badRequest(SYSTEM_SHAPE, "system");
    }
    out.push(block["text"]);
  }
}

/**
 * The conversation of an already validated chat-completions or Anthropic messages body: the Anthropic `system`
 * first (role `system`), then each message with its role (default `user`) and its text segments joined by a space.
 */
export function chatTurns(body: JsonObject): ChatTurn[] {
  const turns: ChatTurn[] = [];
  const system: string[] = [];
  appendSystem(system, body["system"]);
  if (system.length > 0) turns.push({ role: "system", content: system.join(" ") });
  const messages = body["messages"];
  if (!Array.isArray(messages)) return turns;
  messages.forEach((message: unknown, i) => {
    if (!isJsonObject(message)) return;
    const segments: string[] = [];
    appendContent(segments, message["content"], `messages[${i}].content`, "messages");
    turns.push({
      role: typeof message["role"] === "string" ? message["role"] : "user",
      content: segments.join(" "),
    });
  });
  return turns;
}
