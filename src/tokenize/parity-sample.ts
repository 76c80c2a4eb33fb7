/**
 * Strings that exercise the corners where a byte-level BPE re-implementation can diverge from Hugging Face's:
 * scripts, emoji sequences, combining marks that NFC composes, whitespace runs, digits, code, contractions and
 * special-token-looking text. The HF loader checks its tiktoken fast path against these; tests use them too.
 *
 * @module
 */
import { seededRandom } from "../seeded-random";

/** Fixed crafted strings. */
export const CRAFTED_SAMPLES: readonly string[] = [
  "hello world",
  "Hello, World! It's a test: we're done, they'll see, I'd say, you've been, I'm here. DON'T SHOUT",
  "The quick brown fox jumps over the lazy dog 1234567890 3.14159 1,000,000",
  "日本語のテキストと中文文本，还有한국어 텍스트。",
  "emoji 👍🏽 👨‍👩‍👧‍👦 🇫🇷 ❤️ 🧑🏿‍🚀 ✨",
  "Cafe\u0301 re\u0301sume\u0301 nai\u0308ve Å A\u030a ﬁ ﬂ",
  "e\u0301\u0301 o\u0308\u0304 \u1100\u1161\u11a8",
  "tabs\t\tand   spaces    \n\n\n  newlines\r\n\r\nCRLF \u00a0nbsp\u200bzwsp\u3000ideographic",
  "    leading and trailing    ",
  "function f(x: number): number {\n  return x ** 2; // square\n}\n\tconst a = [1, 2, 3];",
  "def main():\n    print(f'{x!r:>10}')\n    return {'a': 1}\n",
  "<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n",
  "<|endoftext|> <think>x</think> <tool_call>{}</tool_call> <|begin_of_text|><|eot_id|>",
  "< |im_start| > <|im_start <im_end|> <|unknown|>",
  "مرحبا بالعالم، هذا نص عربي. नमस्ते दुनिया। Привет, мир! Γειά σου Κόσμε",
  "ไทย ภาษา ລາວ ខ្មែរ עברית 😀😃😄",
  "1234567890123456789 00001 ١٢٣ ４５６ ½ ²³",
  "!!!??? ... --- *** ### $$$ %%% ^^^ &&& ((( ))) {{{ }}} [[[ ]]]",
  "a\n\n\nb \n c\r d\r\n\te",
  "\u0000\u0001\u001f\u007f control \ufeffbom \ud83d\ude00 \ufffd",
  "x".repeat(300),
  "aaaa bbbb aaaa bbbb ".repeat(20),
];

/** Characters the seeded random strings are drawn from (mixed scripts, marks, spaces, symbols, specials). */
const POOL: readonly string[] = [
  ..."abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789",
  ..." \t\n\r.,;:!?'\"()[]{}<>|/\\-_=+*&^%$#@~`",
  ..."éüñçøåßÆŒ日本語中文한국어テキストこんにちは漢字",
  ..."مرحباнमस्तेПриветΓειάไทยעברית",
  "\u0301",
  "\u0308",
  "\u030a",
  "\u0327",
  "\u00a0",
  "\u200b",
  "\u200d",
  "\u3000",
  "👍",
  "🏽",
  "👨‍👩‍👧",
  "🇫🇷",
  "❤️",
  "ﬁ",
  "'s",
  "'re",
  "'ll",
  "  ",
  "    ",
  "\r\n",
  "<|im_start|>",
  "<|im_end|>",
  "<think>",
  "<|endoftext|>",
  "<|eot_id|>",
];

/** `count` random strings of 1..`maxPieces` pool pieces, reproducible from `seed`. */
export function randomSamples(count: number, seed: number, maxPieces = 40): string[] {
  const rnd = seededRandom(seed);
  const out: string[] = [];
  for (let i = 0; i < count; i++) {
    const n = 1 + Math.floor(rnd() * maxPieces);
    let s = "";
    for (let j = 0; j < n; j++) s += POOL[Math.floor(rnd() * POOL.length)] ?? "";
    out.push(s);
  }
  return out;
}

/** The sample the HF loader checks its fast path on: the crafted strings plus 64 seeded random ones. */
export function fastPathSample(): string[] {
  return [...CRAFTED_SAMPLES, ...randomSamples(64, 20240601)];
}
