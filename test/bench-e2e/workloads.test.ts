/**
 * Workload generators: deterministic per seed, shapes as specified, exact token counts, Poisson arrivals.
 */
import { tiktokenEncoder } from "../../src/tokenize/encoder";
import type { SyncEncoder } from "../../src/tokenize/encoder";
import { WORDS, prng, seededText, tokenText } from "../../bench/e2e/text";
import { multiTurnWorkload, poissonArrivals, sharedPrefixWorkload } from "../../bench/e2e/workloads";
import type { WorkloadRequest } from "../../bench/e2e/workloads";

let tiktoken: SyncEncoder;
beforeAll(() => {
  tiktoken = tiktokenEncoder();
});
afterAll(() => tiktoken.free?.());

const content = (r: WorkloadRequest | undefined, i: number): string => r?.messages?.[i]?.content ?? "";

describe("token text", () => {
  it("every word is one cl100k token, and N words are exactly N tokens", () => {
    for (const w of WORDS) expect(tiktoken.encode(` ${w}`)).toHaveLength(1);
    for (const n of [1, 7, 128, 2048]) expect(tiktoken.encode(seededText(n, n, "tiktoken"))).toHaveLength(n);
  });

  it("character text is exactly N ASCII bytes", () => {
    for (const n of [1, 5, 100, 513]) expect(Buffer.byteLength(seededText(n, 3, "character"))).toBe(n);
  });

  it("a shorter text from the same seed is a prefix of a longer one", () => {
    for (const t of ["tiktoken", "character"] as const)
      expect(seededText(300, 9, t).startsWith(seededText(120, 9, t))).toBe(true);
    expect(tokenText(10, prng(1), "tiktoken")).not.toBe(tokenText(10, prng(2), "tiktoken"));
  });
});

describe("poissonArrivals", () => {
  it("has mean inter-arrival 1/rate and exponential spread (fixed seed)", () => {
    const times = poissonArrivals(20_000, 50, prng(42));
    const gaps = times.map((t, i) => t - (times[i - 1] ?? 0));
    const mean = gaps.reduce((a, b) => a + b, 0) / gaps.length;
    // Mean 20 ms; the standard error of 20 000 exponential draws is 20/√20000 ≈ 0.14 ms.
    expect(Math.abs(mean - 20)).toBeLessThan(0.6);
    const sd = Math.sqrt(gaps.reduce((a, g) => a + (g - mean) ** 2, 0) / gaps.length);
    expect(sd / mean).toBeGreaterThan(0.95);
    expect(sd / mean).toBeLessThan(1.05);
    expect(times.every((t, i) => i === 0 || t >= (times[i - 1] ?? 0))).toBe(true);
  });

  it("an infinite rate sends everything at once; a non-positive one is refused", () => {
    expect(poissonArrivals(3, Infinity, prng(1))).toEqual([0, 0, 0]);
    expect(() => poissonArrivals(3, 0, prng(1))).toThrow(/positive/);
  });
});

describe("sharedPrefixWorkload", () => {
  const small = { rate: 10, numGroups: 4, promptsPerGroup: 3, systemPromptTokens: 200, questionTokens: 20 };

  it("defaults: 64 × 16 requests, 2048-token system prompts, 128-token questions, 256 output", () => {
    const w = sharedPrefixWorkload({ rate: 10 });
    expect(w.requests).toHaveLength(1024);
    const groups = new Map<string, WorkloadRequest[]>();
    for (const r of w.requests)
      groups.set(r.expectedPrefixGroup ?? "", [...(groups.get(r.expectedPrefixGroup ?? "") ?? []), r]);
    expect(groups.size).toBe(64);
    for (const rs of groups.values()) {
      expect(rs).toHaveLength(16);
      expect(new Set(rs.map((r) => content(r, 0))).size).toBe(1);
      expect(new Set(rs.map((r) => content(r, 1))).size).toBe(16);
    }
    const r = w.requests[0];
    expect(r).toMatchObject({ maxTokens: 256, inputTokens: 2048 + 128, sharedPrefixTokens: 2048 });
    expect(tiktoken.encode(content(r, 0))).toHaveLength(2048);
    expect(tiktoken.encode(content(r, 1))).toHaveLength(128);
    // Shuffled: the first requests do not all come from one group.
    expect(new Set(w.requests.slice(0, 16).map((x) => x.expectedPrefixGroup)).size).toBeGreaterThan(4);
    // Different groups' system prompts differ.
    expect(new Set(w.requests.map((x) => content(x, 0))).size).toBe(64);
  });

  it("is deterministic for a seed and differs across seeds", () => {
    expect(sharedPrefixWorkload({ ...small, seed: 5 })).toEqual(sharedPrefixWorkload({ ...small, seed: 5 }));
    expect(sharedPrefixWorkload({ ...small, seed: 5 })).not.toEqual(
      sharedPrefixWorkload({ ...small, seed: 6 }),
    );
  });

  it("rangeRatio jitters lengths within [len × ratio, len]; scale shrinks lengths; character counts bytes", () => {
    const w = sharedPrefixWorkload({ ...small, rangeRatio: 0.5, outputTokens: 100, tokenizer: "character" });
    for (const r of w.requests) {
      const sys = Buffer.byteLength(content(r, 0));
      const q = Buffer.byteLength(content(r, 1));
      expect(sys).toBeGreaterThanOrEqual(100);
      expect(sys).toBeLessThanOrEqual(200);
      expect(q).toBeGreaterThanOrEqual(10);
      expect(q).toBeLessThanOrEqual(20);
      expect(r.maxTokens).toBeGreaterThanOrEqual(50);
      expect(r.inputTokens).toBe(sys + q);
    }
    expect(new Set(w.requests.map((r) => r.maxTokens)).size).toBeGreaterThan(1);
    const s = sharedPrefixWorkload({ ...small, scale: 0.1 });
    expect(s.requests[0]).toMatchObject({ inputTokens: 22, maxTokens: 26 });
  });
});

describe("multiTurnWorkload", () => {
  const o = {
    rate: 5,
    users: 3,
    turns: 4,
    systemPromptTokens: 50,
    userHistoryTokens: 30,
    questionTokens: 10,
    answerTokens: 8,
  };

  it("grows each user's history by the previous question and answer, and chains turns", () => {
    const w = multiTurnWorkload(o);
    expect(w.requests).toHaveLength(12);
    for (let u = 0; u < 3; u++) {
      const turns = w.requests.filter((r) => r.sessionId === `user-${u}`);
      expect(turns.map((r) => r.id)).toEqual([0, 1, 2, 3].map((t) => `chat-${u}-${t}`));
      turns.forEach((r, t) => {
        expect(r.messages).toHaveLength(3 + 2 * t);
        expect(r.inputTokens).toBe(50 + 30 + t * 18 + 10);
        const text = (r.messages ?? []).map((m) => m.content).join("");
        expect(tiktoken.encode(text)).toHaveLength(r.inputTokens);
        expect(r.after).toBe(t === 0 ? undefined : `chat-${u}-${t - 1}`);
        const prev = turns[t - 1];
        // The previous turn's whole prompt starts this one.
        if (prev) expect(r.messages?.slice(0, prev.messages?.length)).toEqual(prev.messages);
      });
    }
    // Every user shares the system prompt.
    expect(new Set(w.requests.map((r) => content(r, 0))).size).toBe(1);
    expect(multiTurnWorkload(o)).toEqual(w);
  });

  it("open-loop variant has no chaining; arrivals are sorted", () => {
    const w = multiTurnWorkload({ ...o, waitForAnswer: false });
    expect(w.requests.every((r) => r.after === undefined)).toBe(true);
    expect(w.requests.every((r, i) => i === 0 || r.atMs >= (w.requests[i - 1]?.atMs ?? 0))).toBe(true);
  });
});
