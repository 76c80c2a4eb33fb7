/**
 * Tiny byte-level BPE `tokenizer.json` files for the fast-path eligibility and fallback tests.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { scratchDir } from "../support/scratch-dir";

/** GPT-2's byte → printable code point map. */
function byteChars(): string[] {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const chars: string[] = new Array<string>(256);
  for (const b of bs) chars[b] = String.fromCodePoint(b);
  let n = 0;
  for (let b = 0; b < 256; b++) if (!bs.includes(b)) chars[b] = String.fromCodePoint(256 + n++);
  return chars;
}

/** Write a tokenizer.json with the 256 byte tokens (ids = byte values) plus `extra` tokens and `merges`. */
export function writeByteLevelTokenizer(extra: Record<string, number>, merges: readonly string[]): string {
  const vocab: Record<string, number> = {};
  byteChars().forEach((ch, b) => (vocab[ch] = b));
  Object.assign(vocab, extra);
  const json = {
    version: "1.0",
    added_tokens: [
      { id: 300, content: "<|end|>", special: true, normalized: false, lstrip: false, rstrip: false },
    ],
    normalizer: null,
    pre_tokenizer: {
      type: "Sequence",
      pretokenizers: [
        { type: "Split", pattern: { Regex: "\\s+|\\S+" }, behavior: "Isolated", invert: false },
        { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
      ],
    },
    post_processor: null,
    decoder: { type: "ByteLevel", add_prefix_space: false, trim_offsets: false, use_regex: false },
    model: {
      type: "BPE",
      dropout: null,
      unk_token: null,
      byte_fallback: false,
      ignore_merges: false,
      vocab,
      merges,
    },
  };
  const dir = scratchDir("kvroute-tok-");
  const file = join(dir, "tokenizer.json");
  writeFileSync(file, JSON.stringify(json));
  return file;
}
