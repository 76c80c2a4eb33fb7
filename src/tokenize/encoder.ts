/**
 * Synchronous encoders: the code that turns text into ids, shared by the main thread (short prompts) and the
 * worker threads (long ones). `loadEncoder` is the single place a `LocalSpec` becomes an encoder.
 *
 * @module
 */
import type { Tiktoken } from "tiktoken";
import type { ChatMessage } from "./tokenizer";
import type { LocalSpec } from "./spec";
import { loadHfEncoder } from "./hf";
import { loadTiktoken } from "./packages";

/** Receives the fast-path decision of an HF load (which encoder is used and why). */
export type EncoderLog = (msg: string, fields: Record<string, unknown>) => void;

/** A loaded synchronous encoder. */
export interface SyncEncoder {
  /** Kind and source, e.g. `hf:/models/qwen3/tokenizer.json`. */
  readonly name: string;
  /** Token ids of `text`, no special tokens added (special-token text present in `text` is parsed as such). */
  encode(text: string): Uint32Array;
  /** The chat rendered with the model's chat template (generation prompt added); absent without a template. */
  renderChat?(messages: readonly ChatMessage[]): string;
  /** Free WASM memory. */
  free?(): void;
}

/** AIBrix's `character` tokenizer: the UTF-8 bytes of the text, one id per byte. */
export function characterEncoder(): SyncEncoder {
  const utf8 = new TextEncoder();
  return {
    name: "character",
    encode: (text) => Uint32Array.from(utf8.encode(text)),
  };
}

/** cl100k_base via the tiktoken WASM package (`encode_ordinary`: special-token text is ordinary text). */
export function tiktokenEncoder(): SyncEncoder {
  const enc: Tiktoken = loadTiktoken().get_encoding("cl100k_base");
  return {
    name: "tiktoken:cl100k_base",
    encode: (text) => enc.encode_ordinary(text),
    free: () => enc.free(),
  };
}

/** Load the encoder of a local spec (synchronous; an HF load reads and checks the files, ~0.5–1 s). */
export function loadEncoder(spec: LocalSpec, log?: EncoderLog): SyncEncoder {
  switch (spec.type) {
    case "character":
      return characterEncoder();
    case "tiktoken":
      return tiktokenEncoder();
    case "hf":
      return loadHfEncoder(spec.path, log === undefined ? {} : { log });
  }
}
