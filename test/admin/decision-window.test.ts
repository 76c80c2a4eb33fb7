/**
 * The status page's sliding window and recent-decisions ring on a stepped clock: rates over the window, slots
 * leaving it after 60 s, percentiles from the histogram never above the largest sample, the strategy bound, and the
 * ring's bound and order.
 */
import {
  createDecisionWindow,
  MAX_STRATEGIES_PER_SLOT,
  OTHER_STRATEGY,
  WINDOW_SECONDS,
} from "../../src/admin/decision-window";
import { createStatusRecorder, RECENT_DECISIONS } from "../../src/admin/status-recorder";

describe("decision window", () => {
  it("counts per strategy over the window and forgets slots older than it", () => {
    let t = 1_000_000;
    const w = createDecisionWindow(() => t);
    for (let i = 0; i < 10; i++) w.decision("least-request", 1);
    w.decision("prefix-cache", 2);
    t += 10_000;
    let s = w.summary();
    expect(s.decisions).toBe(11);
    expect(s.seconds).toBe(10);
    expect(s.decisionsPerSecond).toBe(1.1);
    expect(s.byStrategy.map((x) => [x.strategy, x.decisions])).toEqual([
      ["least-request", 10],
      ["prefix-cache", 1],
    ]);
    t += WINDOW_SECONDS * 1000;
    w.decision("random", 1);
    s = w.summary();
    expect(s.decisions).toBe(1);
    expect(s.seconds).toBe(WINDOW_SECONDS);
    expect(s.byStrategy.map((x) => x.strategy)).toEqual(["random"]);
  });

  it("reads percentiles from the histogram, within a bucket's width and never above the maximum", () => {
    const w = createDecisionWindow(() => 5_000);
    for (let i = 1; i <= 100; i++) w.decision("s", i / 10); // 0.1 .. 10 ms
    const { p50, p90, p99, max } = w.summary().latencyMs;
    expect(max).toBe(10);
    expect(p50).toBeGreaterThanOrEqual(5);
    expect(p50).toBeLessThanOrEqual(5 * 1.2);
    expect(p90).toBeGreaterThanOrEqual(9);
    expect(p99).toBeLessThanOrEqual(10);
  });

  it("bounds the strategy names one slot keeps; the rest count as other", () => {
    const w = createDecisionWindow(() => 0);
    for (let i = 0; i < MAX_STRATEGIES_PER_SLOT + 5; i++) w.decision(`s${i}`, 1);
    const s = w.summary();
    expect(s.byStrategy).toHaveLength(MAX_STRATEGIES_PER_SLOT + 1);
    expect(s.byStrategy.find((x) => x.strategy === OTHER_STRATEGY)?.decisions).toBe(5);
  });
});

describe("status recorder", () => {
  const finished = (pod: string, extra: Record<string, unknown> = {}) => ({
    model: "m1",
    pod,
    strategy: "least-request",
    fallbackReason: undefined,
    decisionMs: 1.23456,
    status: 200,
    outcome: "completed",
    ...extra,
  });

  it("keeps the last RECENT_DECISIONS finished requests, newest first", () => {
    const r = createStatusRecorder(
      () => 0,
      () => 0,
    );
    for (let i = 0; i < RECENT_DECISIONS + 7; i++) r.onFinished(finished(`p${i}`));
    const recent = r.activity().recent;
    expect(recent).toHaveLength(RECENT_DECISIONS);
    expect(recent[0]?.pod).toBe(`p${RECENT_DECISIONS + 6}`);
    expect(recent[RECENT_DECISIONS - 1]?.pod).toBe("p7");
    expect(recent[0]).toMatchObject({
      decisionMs: 1.235,
      model: "m1",
      prefix: null,
      at: "1970-01-01T00:00:00.000Z",
    });
  });

  it("takes the prefix hit from the record's blocks for any strategy that looked one up, and bounds client text", () => {
    const r = createStatusRecorder(
      () => 0,
      () => 0,
    );
    r.onFinished(finished("a", { strategy: "prefix-cache", prefixHitBlocks: 12, prefixLookupBlocks: 14 }));
    r.onFinished(
      finished("b", {
        strategy: "prefix-cache",
        fallbackReason: "no-prefix-match",
        prefixHitBlocks: 0,
        prefixLookupBlocks: 4,
      }),
    );
    r.onFinished(finished("c", { strategy: "prefix-cache", fallbackReason: "prefix-match-overloaded" }));
    r.onFinished(finished("d", { strategy: "prefix-cache", fallbackReason: "no-tokens" }));
    r.onFinished(
      finished("e", { strategy: "prefix-cache:2,least-request", prefixHitBlocks: 2, prefixLookupBlocks: 2 }),
    );
    r.onFinished(finished("f", { model: `${"x".repeat(500)}\n` }));
    const { recent, window } = r.activity();
    expect(recent.map((d) => d.prefix)).toEqual([
      null,
      { hitBlocks: 2, lookupBlocks: 2 },
      null,
      null,
      { hitBlocks: 0, lookupBlocks: 4 },
      { hitBlocks: 12, lookupBlocks: 14 },
    ]);
    // Blocks, not requests: 14 hit of 20 looked up over three lookups.
    expect(window.prefix).toEqual({ lookups: 3, hitBlocks: 14, lookupBlocks: 20, hitRate: 0.7 });
    expect(window.fallbackReasons).toEqual({
      "no-prefix-match": 1,
      "prefix-match-overloaded": 1,
      "no-tokens": 1,
    });
    expect(Buffer.byteLength(recent[0]?.model ?? "")).toBeLessThanOrEqual(96);
    expect(recent[0]?.model).not.toContain("\n");
  });

  it("keeps an absent status absent; the outcome and close reason say what happened", () => {
    const r = createStatusRecorder(
      () => 0,
      () => 0,
    );
    r.onFinished(finished("a", { status: undefined, outcome: "cancelled", closeReason: "client-ended" }));
    r.onFinished(finished("b"));
    const [b, a] = r.activity().recent;
    expect(a).toMatchObject({ status: null, outcome: "cancelled", closeReason: "client-ended" });
    expect(b).toMatchObject({ status: 200, outcome: "completed", closeReason: null });
  });
});
