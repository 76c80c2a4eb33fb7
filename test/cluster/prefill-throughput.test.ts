import { computedPromptTokens, PrefillMeter, prefillRate } from "../../src/cluster/prefill-throughput";
import { makeMetrics } from "../routing/pods";

const reading = (atMs: number, prompt: number, hits?: number) =>
  makeMetrics({
    scrapedAtMs: atMs,
    promptTokensTotal: prompt,
    ...(hits === undefined ? {} : { prefixCacheHitsTotal: hits }),
  });

describe("prefill throughput", () => {
  it("counts computed prompt tokens: prompt minus cached, none without a prompt counter", () => {
    expect(computedPromptTokens(reading(0, 1000, 400))).toBe(600);
    expect(computedPromptTokens(reading(0, 1000))).toBe(1000);
    expect(computedPromptTokens(makeMetrics())).toBeUndefined();
    expect(prefillRate({ atMs: 0, tokens: 0 }, { atMs: 500, tokens: 1000 })).toBe(2000);
    expect(prefillRate({ atMs: 0, tokens: 10 }, { atMs: 500, tokens: 5 })).toBeUndefined();
    expect(prefillRate({ atMs: 5, tokens: 0 }, { atMs: 5, tokens: 5 })).toBeUndefined();
  });

  it("keeps each pod's peak over windows of at least 2 s, and starts over when the engine restarts", () => {
    const m = new PrefillMeter();
    m.observe("a", reading(0, 0));
    m.observe("a", reading(1000, 50_000)); // under the window: no figure yet
    expect(m.peak("a")).toBeUndefined();
    m.observe("a", reading(2000, 8000)); // 8,000 tokens in 2 s
    expect(m.peak("a")).toBe(4000);
    m.observe("a", reading(4000, 28_000)); // 10,000/s: a new peak
    m.observe("a", reading(6000, 30_000)); // 1,000/s: the peak stays
    expect(m.peak("a")).toBe(10_000);
    m.observe("a", reading(8000, 100)); // counter went back: a restarted engine
    expect(m.peak("a")).toBeUndefined();
    expect(m.peak("b")).toBeUndefined();
  });
});
