/**
 * Seeded, reproducible workloads for the end-to-end driver: each is a list of timed requests with open-loop
 * Poisson arrivals (exponential inter-arrival times of mean `1000 / rate` ms; `rate: Infinity` sends
 * everything at t = 0, the closed "max concurrency" style of bench_serving). Shapes follow the field's
 * published router benchmarks:
 *
 * - {@link sharedPrefixWorkload}: SGLang bench_serving `generated-shared-prefix`;
 * - {@link multiTurnWorkload}: production-stack multi-round QA / SGLang bench_multiturn;
 * - Mooncake traces (Dynamo's router benchmark): `mooncake.ts`.
 *
 * Lengths are in tokens of the chosen {@link TextTokenizer} (exact for `tiktoken` and `character`, see `text.ts`).
 * `scale` multiplies every token length (never below 1 token), so a demo can keep a workload's shape while making
 * it cheap; counts (groups, users, turns) have their own knobs.
 *
 * @module
 */
import { exponential, mixSeed, prng, shuffle, tokenText, uniformInt } from "./text";
import type { Rng, TextTokenizer } from "./text";

/** One chat message of a request. */
export interface WorkloadMessage {
  readonly role: "system" | "user" | "assistant";
  readonly content: string;
}

/** One timed request of a workload. Exactly one of `messages` (chat completions) or `prompt` (completions). */
export interface WorkloadRequest {
  /** Unique within the workload, e.g. `gsp-3-7`. */
  readonly id: string;
  /** Send time, ms after the run starts. */
  readonly atMs: number;
  readonly messages?: readonly WorkloadMessage[];
  readonly prompt?: string;
  /** `max_tokens` of the request (with `ignore_eos`, the output length). */
  readonly maxTokens: number;
  /** Designed prompt length in tokens (message contents only, no chat-template tokens). */
  readonly inputTokens: number;
  /** Conversation the request belongs to (multi-turn, traces with sessions). */
  readonly sessionId?: string;
  /** Requests with the same group share a prompt prefix (system prompt, trace root block). */
  readonly expectedPrefixGroup?: string;
  /** Tokens at the start of the prompt shared with other requests of `expectedPrefixGroup`. */
  readonly sharedPrefixTokens?: number;
  /** A request that must finish before this one is sent (the previous turn of a closed-loop conversation). */
  readonly after?: string;
  /** Extra request headers (lower-case names), e.g. the tenant's `user` and `x-kvroute-priority`. */
  readonly headers?: Readonly<Record<string, string>>;
}

/** A generated workload. */
export interface Workload {
  readonly name: string;
  readonly tokenizer: TextTokenizer;
  readonly requests: readonly WorkloadRequest[];
}

/** Token length after scaling (at least 1). */
export function scaled(tokens: number, scale: number): number {
  return Math.max(1, Math.round(tokens * scale));
}

/** `count` open-loop Poisson arrival times in ms (sorted, first one after one inter-arrival gap). */
export function poissonArrivals(count: number, ratePerSecond: number, rand: Rng): number[] {
  const out: number[] = [];
  if (!(ratePerSecond > 0)) throw new Error(`rate must be positive, got ${ratePerSecond}`);
  const mean = 1000 / ratePerSecond;
  let t = 0;
  for (let i = 0; i < count; i++) {
    if (Number.isFinite(mean) && mean > 0) t += exponential(rand, mean);
    out.push(t);
  }
  return out;
}

/**
 * A length drawn as bench_serving's `compute_random_lens` does: uniform in [full × rangeRatio, full]; a ratio of
 * 1 (the default) gives exactly `full`.
 */
function jittered(rand: Rng, full: number, rangeRatio: number): number {
  if (rangeRatio >= 1) return full;
  return uniformInt(rand, Math.max(1, Math.floor(full * rangeRatio)), full);
}

/** Options of {@link sharedPrefixWorkload}; defaults are bench_serving's `--gsp-*` defaults. */
export interface SharedPrefixOptions {
  readonly seed?: number;
  /** Requests per second (Poisson). */
  readonly rate: number;
  readonly numGroups?: number;
  readonly promptsPerGroup?: number;
  readonly systemPromptTokens?: number;
  readonly questionTokens?: number;
  readonly outputTokens?: number;
  /** Length jitter: lengths uniform in [len × rangeRatio, len]; 1 = fixed. Drawn per group (system prompt) and
   * per prompt (question, output). */
  readonly rangeRatio?: number;
  readonly scale?: number;
  readonly tokenizer?: TextTokenizer;
}

/**
 * SGLang `generated-shared-prefix`: `numGroups` system prompts, each followed by `promptsPerGroup` distinct
 * questions; all requests shuffled (bench_serving shuffles too, so groups interleave and a router has to find the
 * sharing) and sent at Poisson times.
 */
export function sharedPrefixWorkload(o: SharedPrefixOptions): Workload {
  const seed = o.seed ?? 1;
  const scale = o.scale ?? 1;
  const tokenizer = o.tokenizer ?? "tiktoken";
  const ratio = o.rangeRatio ?? 1;
  const groups = o.numGroups ?? 64;
  const perGroup = o.promptsPerGroup ?? 16;
  const rand = prng(mixSeed(seed, 0x65b));
  const built: Omit<WorkloadRequest, "atMs">[] = [];
  for (let g = 0; g < groups; g++) {
    const systemTokens = jittered(rand, scaled(o.systemPromptTokens ?? 2048, scale), ratio);
    // Text comes from per-group/per-prompt seeds, so changing one length does not reshuffle every other text.
    const system = tokenText(systemTokens, prng(mixSeed(seed, 1, g)), tokenizer);
    for (let p = 0; p < perGroup; p++) {
      const questionTokens = jittered(rand, scaled(o.questionTokens ?? 128, scale), ratio);
      const maxTokens = jittered(rand, scaled(o.outputTokens ?? 256, scale), ratio);
      built.push({
        id: `gsp-${g}-${p}`,
        messages: [
          { role: "system", content: system },
          { role: "user", content: tokenText(questionTokens, prng(mixSeed(seed, 2, g, p)), tokenizer) },
        ],
        maxTokens,
        inputTokens: systemTokens + questionTokens,
        expectedPrefixGroup: `gsp-${g}`,
        sharedPrefixTokens: systemTokens,
      });
    }
  }
  shuffle(built, rand);
  const times = poissonArrivals(built.length, o.rate, rand);
  return {
    name: "generated-shared-prefix",
    tokenizer,
    requests: built.map((r, i) => ({ ...r, atMs: times[i] ?? 0 })),
  };
}

/** Options of {@link multiTurnWorkload}; defaults are production-stack's multi-round-qa README example. */
export interface MultiTurnOptions {
  readonly seed?: number;
  /** New conversations-turns per second overall (Poisson). */
  readonly rate: number;
  readonly users?: number;
  readonly turns?: number;
  /** System prompt shared by every user. */
  readonly systemPromptTokens?: number;
  /** Per-user context placed after the system prompt in the first turn (a document, earlier chat). */
  readonly userHistoryTokens?: number;
  readonly questionTokens?: number;
  readonly answerTokens?: number;
  /**
   * `true` (default): a turn is sent no earlier than its Poisson time *and* after the previous turn's answer
   * (`after`), as a person would; `false`: turns are purely open-loop at their Poisson times.
   */
  readonly waitForAnswer?: boolean;
  readonly scale?: number;
  readonly tokenizer?: TextTokenizer;
}

/**
 * Multi-turn chat: `users` conversations of `turns` turns. Turn k's messages are the system prompt, the user's
 * history, and every earlier question with its answer, then the new question: the prompt grows each turn and its
 * start is the previous turn's whole prompt.
 *
 * The earlier answers are synthesized text of `answerTokens` tokens, not what the pod actually generated, so the
 * workload is fixed up front; the pod's cache of its own output then misses from the first answer on (the
 * history before it still hits). Arrival times are drawn in round-robin turn order (every user's turn 1, then
 * every turn 2, ...), so conversations interleave as in multi-round-qa.
 */
export function multiTurnWorkload(o: MultiTurnOptions): Workload {
  const seed = o.seed ?? 1;
  const scale = o.scale ?? 1;
  const tokenizer = o.tokenizer ?? "tiktoken";
  const users = o.users ?? 10;
  const turns = o.turns ?? 5;
  const systemTokens = scaled(o.systemPromptTokens ?? 1000, scale);
  const historyTokens = scaled(o.userHistoryTokens ?? 2000, scale);
  const questionTokens = scaled(o.questionTokens ?? 128, scale);
  const answerTokens = scaled(o.answerTokens ?? 100, scale);
  const wait = o.waitForAnswer ?? true;
  const system = tokenText(systemTokens, prng(mixSeed(seed, 10)), tokenizer);
  const times = poissonArrivals(users * turns, o.rate, prng(mixSeed(seed, 11)));
  const out: WorkloadRequest[] = [];
  const convo: WorkloadMessage[][] = [];
  for (let u = 0; u < users; u++) {
    const history = tokenText(historyTokens, prng(mixSeed(seed, 12, u)), tokenizer);
    convo.push([
      { role: "system", content: system },
      { role: "user", content: history },
    ]);
  }
  for (let t = 0; t < turns; t++) {
    for (let u = 0; u < users; u++) {
      const messages = convo[u] ?? [];
      const question = tokenText(questionTokens, prng(mixSeed(seed, 13, u, t)), tokenizer);
      const prior = systemTokens + historyTokens + t * (questionTokens + answerTokens);
      const request: WorkloadRequest = {
        id: `chat-${u}-${t}`,
        atMs: times[t * users + u] ?? 0,
        // The history sits in the first user message; each question is its own user message.
        messages: [...messages, { role: "user", content: question }],
        maxTokens: answerTokens,
        inputTokens: prior + questionTokens,
        sessionId: `user-${u}`,
        expectedPrefixGroup: `user-${u}`,
        sharedPrefixTokens: prior,
        ...(wait && t > 0 ? { after: `chat-${u}-${t - 1}` } : {}),
      };
      out.push(request);
      const answer = tokenText(answerTokens, prng(mixSeed(seed, 14, u, t)), tokenizer);
      messages.push({ role: "user", content: question }, { role: "assistant", content: answer });
    }
  }
  return { name: "multi-turn-chat", tokenizer, requests: out.sort((a, b) => a.atMs - b.atMs) };
}
