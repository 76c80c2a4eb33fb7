/**
 * The P/D scenario's plumbing, in memory: `--scenario pd` selects the long-prompt mix, the two undisaggregated
 * baselines and `pd` on a prefill/decode layout of the same pods; the workload is seeded and shaped as stated;
 * TPOT is (end − first token) / (output tokens − 1) per request.
 */
import { longPromptMixWorkload } from "../../bench/e2e/long-prompt-mix";
import type { RequestRecord } from "../../bench/e2e/run-workload";
import { parseRoutingOptions } from "../../bench/routing-options";
import { pdRoles, stallPercentiles, tpotPercentiles } from "../../bench/routing-pd";

describe("routing bench, --scenario pd", () => {
  it("selects the long-prompt mix, two baselines and pd on half prefill, half decode pods", () => {
    const o = parseRoutingOptions(["--scenario", "pd"]);
    expect(o).toMatchObject({
      workload: "long-prompt-mix",
      routerReplicas: 1,
      rate: 8,
      requests: 240,
      pods: 4,
      pdRoles: "prefill:2,decode:2",
    });
    expect(o.strategies.map((s) => [s.key, s.disaggregated === true])).toEqual([
      ["least-request", false],
      ["prefix-cache-and-load", false],
      ["pd", true],
    ]);
    expect(parseRoutingOptions(["--scenario", "pd", "--pods", "6", "--prefill-pods", "2"]).pdRoles).toBe(
      "prefill:2,decode:4",
    );
    // The default strategy set leaves pd out (it needs the role fleet), and so needs no layout.
    const plain = parseRoutingOptions([]);
    expect(plain.strategies.some((s) => s.key === "pd")).toBe(false);
    expect(plain.pdRoles).toBeUndefined();
    expect(() => pdRoles(4, 4)).toThrow(/--prefill-pods must be 1..3/);
  });

  it("the long-prompt mix: seeded, unique prompts, long ones at the stated share and length", () => {
    const o = { seed: 7, rate: 8, requests: 400, tokenizer: "character" as const };
    const w = longPromptMixWorkload(o);
    expect(longPromptMixWorkload(o)).toEqual(w);
    expect(w.requests).toHaveLength(400);
    const long = w.requests.filter((r) => r.id.startsWith("long-"));
    // 15% of 400 = 60 expected; binomial sd ≈ 7.
    expect(long.length).toBeGreaterThan(35);
    expect(long.length).toBeLessThan(85);
    for (const r of w.requests) {
      const text = r.messages?.[0]?.content ?? "";
      expect(Buffer.byteLength(text)).toBe(r.inputTokens);
      expect(r.maxTokens).toBe(128);
      if (r.id.startsWith("long-")) expect(r.inputTokens).toBe(6144);
      else expect(r.inputTokens).toBeLessThan(6144);
    }
    const firstWords = new Set(w.requests.map((r) => r.messages?.[0]?.content.slice(0, 64)));
    expect(firstWords.size).toBe(400);
    const times = w.requests.map((r) => r.atMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
  });

  it("TPOT is per request (end − first token) / (tokens − 1); failures and 1-token answers have none; stalls", () => {
    const rec = (over: Partial<RequestRecord>): RequestRecord => ({
      ok: true,
      e2eMs: 0,
      id: "r",
      scheduledMs: 0,
      sentMs: 0,
      inputTokens: 10,
      maxTokens: 10,
      ...over,
    });
    const p = tpotPercentiles([
      rec({ ttftMs: 100, e2eMs: 190, outputTokens: 10 }), // 10 ms
      rec({ ttftMs: 50, e2eMs: 450, outputTokens: 5 }), // 100 ms
      rec({ ttftMs: 50, e2eMs: 60, outputTokens: 1 }),
      rec({ ok: false, ttftMs: 50, e2eMs: 5000, outputTokens: 3 }),
    ]);
    expect(p.count).toBe(2);
    expect(p.p50).toBeCloseTo(55, 9);
    expect(p.max).toBeCloseTo(100, 9);
    // The stall is the request's longest pause, as the driver saw it; failed requests do not count.
    const s = stallPercentiles([
      rec({ maxInterChunkMs: 600 }),
      rec({ maxInterChunkMs: 8 }),
      rec({ ok: false, maxInterChunkMs: 9000 }),
      rec({}),
    ]);
    expect(s).toMatchObject({ count: 2, max: 600 });
  });
});
