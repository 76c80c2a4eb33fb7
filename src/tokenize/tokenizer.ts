/**
 * The tokenizer contract: text (or a chat) in, token ids out. Implementations: `character` (UTF-8 bytes),
 * `tiktoken` (cl100k_base), Hugging Face `tokenizer.json` (with chat templates), and `remote` (vLLM `/tokenize`).
 * Long inputs are encoded off the event loop; an implementation may therefore answer asynchronously.
 *
 * @module
 */
import type { KeyPlan, PlannedKeys } from "../prefix";

/** One chat message as the chat template sees it. Content parts are already flattened to text. */
export interface ChatMessage {
  readonly role: string;
  readonly content: string;
}

/** A prompt as the tokenizer takes it: text, or a chat to render with the model's chat template first. */
export type PromptInput =
  | { readonly t: "text"; readonly text: string }
  | { readonly t: "chat"; readonly messages: readonly ChatMessage[] };

/** Token ids, and the block keys computed beside them when the encoding ran off the event loop. */
export interface TokenizedPrompt {
  readonly tokens: Uint32Array;
  /** Present when a worker encoded the prompt: the keys of the plan, hashed there. Absent: hash on demand. */
  readonly keys?: PlannedKeys;
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
  /**
   * Token ids of a text or a chat (`chat` only when `encodeChat` exists), and — when the prompt is long enough to be
   * encoded in a worker — the block keys of `plan()` hashed there too, so that the event loop does neither. `plan`
   * is called only then. Rejects as `encode`/`encodeChat` would.
   */
  prepare?(input: PromptInput, plan: () => KeyPlan, signal?: AbortSignal): Promise<TokenizedPrompt>;
  /** Release workers, sockets. Idempotent. */
  close?(): Promise<void>;
}

/** Picks the tokenizer for a model (per-model configuration, with a default). */
export interface TokenizerRegistry {
  forModel(model: string): Tokenizer;
  /**
   * The keys of `plan` for a prompt given as token ids, hashed in a worker when the prompt is long (the tokens are
   * handed over and come back); `undefined` when short or without workers: hash on demand. Rejects with a
   * `TokenizeError` as the pool does.
   */
  keysOffLoop?(
    tokens: Uint32Array,
    plan: () => KeyPlan,
    signal?: AbortSignal,
  ): Promise<TokenizedPrompt> | undefined;
  close(): Promise<void>;
}
