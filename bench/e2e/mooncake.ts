/**
 * Mooncake traces (Dynamo's `benchmarks/router/real_data_benchmark.py`): JSON lines
 * `{"timestamp": ms, "input_length": n, "output_length": n, "hash_ids": [..]}` where each hash id names one
 * 512-token block of the prompt, in order, and equal ids mean equal block contents (so a shared id prefix is a
 * shared prompt prefix). The trace carries no text: {@link mooncakeWorkload} synthesizes it, one seeded text per
 * hash id, so equal ids give byte-identical blocks and the pods' prefix caches see exactly the trace's sharing.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import { mixSeed, prng, tokenText } from "./text";
import type { TextTokenizer } from "./text";
import { scaled } from "./workloads";
import type { Workload, WorkloadRequest } from "./workloads";

/** Tokens per hash id in Mooncake traces. */
export const MOONCAKE_BLOCK_TOKENS = 512;

/** One trace line. */
export interface MooncakeRecord {
  /** Arrival, ms from the trace start. */
  readonly timestamp: number;
  readonly inputLength: number;
  readonly outputLength: number;
  readonly hashIds: readonly number[];
  /** Present in some traces (session-aware variants); carried through when it is. */
  readonly sessionId?: string;
}

function nonNegative(v: unknown, field: string, line: number): number {
  if (typeof v !== "number" || !Number.isFinite(v) || v < 0)
    throw new Error(`mooncake trace line ${line}: ${field} must be a non-negative number`);
  return v;
}

/**
 * Parse a trace's text (blank lines skipped).
 *
 * @throws Error naming the line on malformed JSON or fields.
 */
export function parseMooncakeTrace(text: string): MooncakeRecord[] {
  const out: MooncakeRecord[] = [];
  text.split("\n").forEach((raw, i) => {
    const line = raw.trim();
    if (!line) return;
    let o: unknown;
    try {
      o = JSON.parse(line);
    } catch {
      throw new Error(`mooncake trace line ${i + 1}: not JSON`);
    }
    if (typeof o !== "object" || o === null) throw new Error(`mooncake trace line ${i + 1}: not an object`);
    const r = o as Record<string, unknown>;
    const ids = r["hash_ids"] ?? [];
    if (!Array.isArray(ids) || !ids.every((h) => Number.isInteger(h)))
      throw new Error(`mooncake trace line ${i + 1}: hash_ids must be an array of integers`);
    const session = r["session_id"];
    out.push({
      timestamp: nonNegative(r["timestamp"] ?? 0, "timestamp", i + 1),
      inputLength: nonNegative(r["input_length"], "input_length", i + 1),
      outputLength: nonNegative(r["output_length"], "output_length", i + 1),
      hashIds: ids as number[],
      ...(typeof session === "string" || typeof session === "number" ? { sessionId: String(session) } : {}),
    });
  });
  return out;
}

/** Read and parse a trace file. */
export function readMooncakeTrace(file: string): MooncakeRecord[] {
  return parseMooncakeTrace(readFileSync(file, "utf8"));
}

/** Options of {@link mooncakeWorkload}. */
export interface MooncakeOptions {
  readonly seed?: number;
  /** Divide the trace's timestamps by this (Dynamo's `--speedup-ratio`); default 1. */
  readonly speedup?: number;
  /** Keep only the first N records. */
  readonly maxRequests?: number;
  /** Multiplies every length, block size included (so sharing is preserved); default 1. */
  readonly scale?: number;
  readonly tokenizer?: TextTokenizer;
}

/**
 * Requests replaying `records`: prompt = the blocks of its hash ids in order, each `512 × scale` tokens except the
 * last, which holds the remainder of `input_length` (a prefix of that block's full text, so a partial last block
 * still matches the full one as far as it goes). A prompt longer than its ids cover gets unique filler blocks;
 * one shorter is cut. The group of a request is its first hash id (its prefix-tree root).
 */
export function mooncakeWorkload(records: readonly MooncakeRecord[], o: MooncakeOptions = {}): Workload {
  const seed = o.seed ?? 1;
  const scale = o.scale ?? 1;
  const speedup = o.speedup ?? 1;
  const tokenizer = o.tokenizer ?? "tiktoken";
  const blockTokens = scaled(MOONCAKE_BLOCK_TOKENS, scale);
  const blocks = new Map<number, string>();
  const block = (id: number): string => {
    let text = blocks.get(id);
    if (text === undefined) {
      text = tokenText(blockTokens, prng(mixSeed(seed, 0x3c, id)), tokenizer);
      blocks.set(id, text);
    }
    return text;
  };
  const used = records.slice(0, o.maxRequests ?? records.length);
  const trie: TrieNode = { children: new Map() };
  const requests = used.map((r, i): WorkloadRequest => {
    const inputTokens = scaled(r.inputLength, scale);
    const parts: string[] = [];
    let remaining = inputTokens;
    for (let b = 0; remaining > 0; b++) {
      const id = r.hashIds[b];
      // Filler beyond the listed ids is unique to this request: ids can never collide with a negative index.
      const full =
        id === undefined ? tokenText(blockTokens, prng(mixSeed(seed, 0x3d, i, b)), tokenizer) : block(id);
      const take = Math.min(remaining, blockTokens);
      parts.push(take === blockTokens ? full : cut(full, take, tokenizer));
      remaining -= take;
    }
    const root = r.hashIds[0];
    const sharedBlocks = sharedRun(trie, r.hashIds);
    return {
      id: `mc-${i}`,
      atMs: r.timestamp / speedup,
      messages: [{ role: "user", content: parts.join("") }],
      maxTokens: scaled(r.outputLength, scale),
      inputTokens,
      ...(root === undefined ? {} : { expectedPrefixGroup: `mc-root-${root}` }),
      sharedPrefixTokens: Math.min(inputTokens, sharedBlocks * blockTokens),
      ...(r.sessionId === undefined ? {} : { sessionId: r.sessionId }),
    };
  });
  return { name: "mooncake", tokenizer, requests: requests.sort((a, b) => a.atMs - b.atMs) };
}

/** The first `tokens` tokens of a {@link tokenText} text: whole `" word"` pieces for tiktoken, bytes otherwise. */
function cut(text: string, tokens: number, tokenizer: TextTokenizer): string {
  if (tokenizer === "character") return text.slice(0, tokens);
  let seen = 0;
  for (let i = 0; i < text.length; i++) {
    if (text[i] === " " && seen++ === tokens) return text.slice(0, i);
  }
  return text;
}

/** A trie over hash-id sequences seen so far. */
interface TrieNode {
  readonly children: Map<number, TrieNode>;
}

/**
 * Walk `ids` through `root`, returning how many leading ids an earlier sequence already had (what a perfect cache
 * could reuse), then insert `ids`. Linear in the trace size, so full Mooncake traces (tens of thousands of lines)
 * stay cheap.
 */
function sharedRun(root: TrieNode, ids: readonly number[]): number {
  let node = root;
  let shared = 0;
  let matching = true;
  for (const id of ids) {
    let next = node.children.get(id);
    if (next === undefined) {
      matching = false;
      next = { children: new Map() };
      node.children.set(id, next);
    } else if (matching) shared++;
    node = next;
  }
  return shared;
}
