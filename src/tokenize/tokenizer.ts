/**
 * The tokenizer contract: text (or a chat) in, token ids out. Implementations: `character` (UTF-8 bytes),
 * `tiktoken` (cl100k_base), Hugging Face `tokenizer.json` (with chat templates), and `remote` (vLLM `/tokenize`).
 * Long inputs are encoded off the event loop; an implementation may therefore answer asynchronously.
 *
 * @module
 */

/** One chat message as the chat template sees it. Content parts are already flattened to text. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/** Encodes prompts for one model. */
export interface Tokenizer {
  /** Kind and source, e.g. `hf:/models/qwen3/tokenizer.json`, for logs and `/debug/state`. */
  readonly name: string;
  /**
   * Token ids of `text`, without special tokens added. Rejects only on a real failure (a remote tokenizer down, a
   * worker crash); the caller then routes without prefix information and counts it.
   */
  encode(text: string, signal?: AbortSignal): Promise<Uint32Array>;
  /**
   * Token ids of a chat rendered with the model's chat template (generation prompt added), as the engine would
   * tokenize it. Absent when the tokenizer has no chat template: the caller encodes the joined text instead.
   */
  encodeChat?(messages: readonly ChatMessage[], signal?: AbortSignal): Promise<Uint32Array>;
  /** Release workers, sockets. Idempotent. */
  close?(): Promise<void>;
}

/** Picks the tokenizer for a model (per-model configuration, with a default). */
export interface TokenizerRegistry {
  forModel(model: string): Tokenizer;
  close(): Promise<void>;
}
