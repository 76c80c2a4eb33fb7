/**
 * Seeded randomness and text of a known token count, for the end-to-end workloads.
 *
 * Token counts are exact without running a tokenizer, for the two tokenizers kvroute ships without model files:
 * - `tiktoken` (cl100k_base): the text is a run of `" word"` pieces from {@link WORDS}, each of which cl100k encodes
 *   as exactly one token, and the pre-tokenizer splits at every space-before-letter, so N pieces are N tokens
 *   (checked against tiktoken in `test/bench-e2e/text.test.ts`). Most BPE vocabularies of Llama/Qwen models also
 *   hold these common words as single tokens, so the count is close for them too, but not guaranteed.
 * - `character` (one token per UTF-8 byte): the same pieces cut to exactly N ASCII bytes.
 *
 * Counts are of message *content*: a chat template adds a few tokens per message on top.
 *
 * @module
 */
import { seededRandom as prng } from "../../src/seeded-random";
export { seededRandom as prng } from "../../src/seeded-random";

/** The tokenizers whose counts {@link tokenText} hits exactly. */
export type TextTokenizer = "tiktoken" | "character";

/** A seeded PRNG returning floats in [0, 1). */
export type Rng = () => number;

/** Mix several integers into one seed (FNV-1a over their 32-bit words), so derived streams do not collide. */
export function mixSeed(...parts: readonly number[]): number {
  let h = 0x811c9dc5;
  for (const p of parts) {
    let v = p >>> 0;
    for (let i = 0; i < 4; i++) {
      h ^= v & 0xff;
      h = Math.imul(h, 0x01000193) >>> 0;
      v >>>= 8;
    }
  }
  return h;
}

/** Exponential variate with mean `mean` (Poisson-process inter-arrival time). */
export function exponential(rand: Rng, mean: number): number {
  // 1 - u lies in (0, 1], so the log is finite.
  return -Math.log(1 - rand()) * mean;
}

/** Uniform integer in [lo, hi]. */
export function uniformInt(rand: Rng, lo: number, hi: number): number {
  return lo + Math.floor(rand() * (hi - lo + 1));
}

/** Fisher–Yates shuffle in place with a seeded PRNG. */
export function shuffle<T>(items: T[], rand: Rng): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const a = items[i] as T;
    items[i] = items[j] as T;
    items[j] = a;
  }
  return items;
}

/** Common English words, each a single cl100k token when preceded by a space (see the module comment). */
export const WORDS: readonly string[] = (
  "the a of to and in that is for it as with was on be by this are or from at an which have not but we can " +
  "they their has more were been one all would there also when will other its into only some these than time " +
  "system model request server cache memory latency token prompt response cluster node network traffic queue " +
  "batch policy average budget capacity version report analysis summary document question answer example result " +
  "value problem solution method process service client header stream history language weather river mountain " +
  "village garden market kitchen morning evening winter summer journey station letter window country family " +
  "teacher student museum large small early late several different important possible available recent common " +
  "simple quickly often rarely clearly nearly exactly probably together however therefore describe explain " +
  "compare improve measure reduce increase balance predict review consider include provide require suggest " +
  "support observe discover remember prepare deliver collect blue green red yellow water fire stone light dark " +
  "house road city forest ocean island bridge tower music story paper table chair door book"
).split(" ");

/**
 * Text of exactly `tokens` tokens for `tokenizer`, from `rand`. Each token is `" word"`, so texts concatenate
 * without merging tokens across the seam, and the first `k` tokens of a longer text from the same seed are the
 * text of `k` tokens from that seed (prefixes stay prefixes).
 */
export function tokenText(tokens: number, rand: Rng, tokenizer: TextTokenizer): string {
  const n = Math.max(0, Math.floor(tokens));
  const pick = (): string => ` ${WORDS[Math.floor(rand() * WORDS.length)] ?? "the"}`;
  if (tokenizer === "tiktoken") {
    const parts: string[] = [];
    for (let i = 0; i < n; i++) parts.push(pick());
    return parts.join("");
  }
  let out = "";
  while (out.length < n) out += pick();
  return out.slice(0, n);
}

/** Text of `tokens` tokens determined by `seed` alone (the same seed and length always give the same text). */
export function seededText(tokens: number, seed: number, tokenizer: TextTokenizer): string {
  return tokenText(tokens, prng(seed), tokenizer);
}
