/**
 * Varied ext_proc workloads: a pool of distinct chat bodies, one per conversation in turn, sized by their TRUE
 * size under the scenario's tokenizer (tokens, counted by encoding each body as kvroute would: `extproc-tokens.ts`)
 * or in body bytes.
 *
 * Every body is a four-turn chat (system, user, assistant, user). Bodies fall into `TENANTS` groups that share one
 * system prompt (a quarter of the size) and differ after it, so a prefix-aware strategy has real work: the shared
 * prefix is worth routing on, the rest is new. The pool is cycled; with `POOL_MAX` bodies a body recurs only after
 * that many conversations (a returning conversation, as in multi-turn traffic).
 *
 * In STREAMED mode a body is sent as `STREAM_CHUNK_BYTES` chunks back to back (Envoy does not wait for a chunk's
 * reply before the next), the last with `end_of_stream`; kvroute answers each, the last with the decision.
 *
 * @module
 */
import type { ProcessingRequest } from "../src/extproc/messages";
import { seededRandom as prng } from "../src/seeded-random";
import type { BodyMode, WorkloadSpec } from "./extproc-options";
import type { PromptTokenizer } from "./extproc-tokens";
import {
  englishText,
  requestHeadersTemplate,
  responseBodyMessages,
  responseHeadersMessage,
  sseChunks,
} from "./extproc-workload";
import type { RequestHeadersTemplate, Workload } from "./extproc-workload";

/** Envoy's STREAMED chunk size on the benchmark's path (16 KiB). */
export const STREAM_CHUNK_BYTES = 16 * 1024;
/** System prompts shared by groups of bodies. */
export const TENANTS = 8;
/** Most bodies in a pool, and the bytes all of them may take (the 220 KB pool holds fewer). */
const POOL_MAX = 256;
const POOL_BYTES = 24 * 1024 * 1024;
/** Share of the size per turn: system, user, assistant, user. */
const SHARES = [0.25, 0.3, 0.17, 0.25] as const;

/** Size figures over the pool. */
export interface SizeStats {
  readonly mean: number;
  readonly min: number;
  readonly max: number;
}

/** A pool workload: the `Workload` the clients drive, plus what the pool holds. */
export interface PoolWorkload extends Workload {
  readonly bodyMode: BodyMode;
  readonly tokenizer: string;
  /** Prompt tokens of each body under `tokenizer`. */
  readonly tokens: SizeStats;
  /** Request body bytes. */
  readonly bytes: SizeStats;
  /** The raw JSON bodies (for tokenize-alone timing). */
  readonly bodies: readonly Buffer[];
}

/** Body `i` of a pool whose turns take about `chars` characters in all. */
function poolBody(model: string, chars: number, i: number, seed: number): Buffer {
  const tenant = i % TENANTS;
  const text = (share: number, s: number): string => {
    // englishText ends on a whole paragraph (hundreds of characters): cut at a word so small sizes are exact.
    const n = Math.max(20, Math.round(chars * share));
    const full = englishText(n, s);
    const cut = full.lastIndexOf(" ", n);
    return cut > 0 ? full.slice(0, cut) : full;
  };
  const rand = prng(seed + i);
  return Buffer.from(
    JSON.stringify({
      model,
      messages: [
        { role: "system", content: text(SHARES[0], seed * 1000 + tenant) },
        { role: "user", content: text(SHARES[1], seed * 7919 + i * 4 + 1) },
        { role: "assistant", content: text(SHARES[2], seed * 7919 + i * 4 + 2) },
        { role: "user", content: text(SHARES[3], seed * 7919 + i * 4 + 3) },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_tokens: 256 + Math.floor(rand() * 512),
      temperature: 0.7,
    }),
    "utf8",
  );
}

function stats(xs: readonly number[]): SizeStats {
  return {
    mean: xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length),
    min: Math.min(...xs),
    max: Math.max(...xs),
  };
}

/**
 * Characters of turn text that make a body of `spec.size` (tokens under `tokenizer`, or bytes): start from a
 * guess, measure a sample of bodies, scale, three times.
 */
function calibrate(spec: WorkloadSpec, model: string, tokenizer: PromptTokenizer, seed: number): number {
  const measure = (b: Buffer): number => (spec.size.t === "bytes" ? b.length : tokenizer.count(b));
  let chars = spec.size.n * (spec.size.t === "bytes" || tokenizer.label === "character" ? 1 : 4);
  for (let round = 0; round < 3; round++) {
    const sample = [0, 1, 2, 3].map((i) => measure(poolBody(model, chars, i, seed)));
    const mean = sample.reduce((a, b) => a + b, 0) / sample.length;
    chars = Math.max(40, Math.round((chars * spec.size.n) / mean));
  }
  return chars;
}

/** Options of {@link buildPoolWorkload}. */
export interface PoolOptions {
  readonly spec: WorkloadSpec;
  readonly model: string;
  readonly bodyMode: BodyMode;
  readonly tokenizer: PromptTokenizer;
  readonly encode: (m: ProcessingRequest) => Buffer;
  /** Seed of the texts (the same seed gives the same pool). */
  readonly seed?: number;
  /** Fewer bodies than the default bound (tests); at least `TENANTS`. */
  readonly maxBodies?: number;
}

/** The body messages of one body in `mode`. */
function bodyMessages(
  encode: (m: ProcessingRequest) => Buffer,
  body: Buffer,
  mode: BodyMode,
): readonly Buffer[] {
  if (mode === "BUFFERED") return [encode({ request_body: { body, end_of_stream: true } })];
  const out: Buffer[] = [];
  for (let at = 0; at < body.length; at += STREAM_CHUNK_BYTES) {
    const chunk = body.subarray(at, Math.min(body.length, at + STREAM_CHUNK_BYTES));
    out.push(
      encode({ request_body: { body: chunk, end_of_stream: at + STREAM_CHUNK_BYTES >= body.length } }),
    );
  }
  return out;
}

/** Build the pool, encode every message once, and count every body's tokens under the tokenizer. */
export function buildPoolWorkload(o: PoolOptions): PoolWorkload {
  const seed = o.seed ?? 12;
  const chars = calibrate(o.spec, o.model, o.tokenizer, seed);
  const probe = poolBody(o.model, chars, 0, seed);
  const bound = Math.min(POOL_MAX, o.maxBodies ?? POOL_MAX);
  const poolSize = Math.max(TENANTS, Math.min(bound, Math.floor(POOL_BYTES / probe.length)));
  const bodies = Array.from({ length: poolSize }, (_, i) => poolBody(o.model, chars, i, seed));
  const tokens = bodies.map((b) => o.tokenizer.count(b));
  const headers: RequestHeadersTemplate[] = bodies.map((b) =>
    requestHeadersTemplate(o.encode, b.length, o.bodyMode),
  );
  const messages = bodies.map((b) => bodyMessages(o.encode, b, o.bodyMode));
  const tokenStats = stats(tokens);
  const chunks = sseChunks(o.model, Math.round(tokenStats.mean), seed + 7);
  const at = <T>(xs: readonly T[], seq: number): T => xs[seq % xs.length] as T;
  return {
    name: o.spec.name,
    promptTokens: Math.round(tokenStats.mean),
    headerCount: at(headers, 0).headerCount,
    requestBodyBytes: Math.round(stats(bodies.map((b) => b.length)).mean),
    responseBodyBytes: chunks.reduce((n, c) => n + Buffer.byteLength(c), 0),
    requestHeaders: (seq) => at(headers, seq).forSeq(seq),
    requestBody: at(messages, 0)[0] as Buffer,
    requestBodyMessages: (seq) => at(messages, seq),
    responseHeaders: responseHeadersMessage(o.encode),
    responseBodyChunks: responseBodyMessages(o.encode, chunks),
    bodyMode: o.bodyMode,
    tokenizer: o.tokenizer.label,
    tokens: tokenStats,
    bytes: stats(bodies.map((b) => b.length)),
    bodies,
  };
}
