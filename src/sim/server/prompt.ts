/**
 * Token ids of a request, computed exactly as kvroute computes them for routing (`src/prefix/prepare-prompt.ts`):
 * the request's own ids for token prompts; for chats, the tokenizer's chat template when it has one, else the
 * message contents joined with a single space (kvroute's routing text); for completions, the prompt text. The
 * simulated engine then hashes the very ids kvroute keys its prefix index with, so prefix matches line up.
 *
 * @module
 */
import { chatPrompt, chatTurns } from "../../request/chat";
import type { JsonObject } from "../../request/fields";
import type { ChatTurn, InferenceRequest, Prompt } from "../../request/inference-request";
import type { Tokenizer } from "../../tokenize/tokenizer";

/** Token ids the engine sees for a parsed inference request (the first prompt of a batch). */
export async function requestTokens(tokenizer: Tokenizer, request: InferenceRequest): Promise<Uint32Array> {
  if (request.prompt.t === "tokens") return Uint32Array.from(request.prompt.ids[0] ?? []);
  if (request.chat !== undefined && tokenizer.encodeChat !== undefined)
    return tokenizer.encodeChat(request.chat);
  return tokenizer.encode(request.prompt.text);
}

/** A `/tokenize` body that failed validation (answered 400). */
export class TokenizeBodyError extends Error {
  constructor(
    message: string,
    readonly param: string,
  ) {
    super(message);
  }
}

/**
 * Token ids for a vLLM `/tokenize` body: the chat form (`messages`) as kvroute tokenizes a chat, or the
 * completion form (`prompt`, a string). Special tokens are never added: kvroute's tokenizers add none, and
 * routing keys must match what the engine hashes.
 *
 * @throws TokenizeBodyError when neither form is present or the messages are malformed.
 */
export async function tokenizeBody(tokenizer: Tokenizer, body: JsonObject): Promise<Uint32Array> {
  if (body["messages"] !== undefined) {
    let turns: ChatTurn[];
    let text: Prompt;
    try {
      // chatPrompt validates the messages; chatTurns assumes a validated body.
      text = chatPrompt(body);
      turns = chatTurns(body);
    } catch (err) {
      throw new TokenizeBodyError(err instanceof Error ? err.message : String(err), "messages");
    }
    if (tokenizer.encodeChat !== undefined) return tokenizer.encodeChat(turns);
    return tokenizer.encode(text.t === "text" ? text.text : "");
  }
  const prompt = body["prompt"];
  if (typeof prompt !== "string") throw new TokenizeBodyError("'prompt' or 'messages' is required", "prompt");
  return tokenizer.encode(prompt);
}
