import { createObservations, DEFAULT_HALF_LIFE_MS, type RequestSample } from "../../src/cluster/observations";

/** Observations on a hand-moved clock. */
function setup(options: { halfLifeMs?: number; maxPods?: number } = {}) {
  let t = 1_000;
  const obs = createObservations({ now: () => t, ...options });
  return { obs, advance: (ms: number) => (t += ms), at: () => t };
}

const ok = (fields: Omit<RequestSample, "success">): RequestSample => ({ success: true, ...fields });

describe("createObservations", () => {
  it("measures TTFT, TPOT, throughput and duration from one sample", () => {
    const { obs } = setup();
    obs.record("p", ok({ firstTokenMs: 120, durationMs: 1120, completionTokens: 101 }));
    expect(obs.get("p")).toEqual({
      ttftMs: 120,
      tpotMs: 10, // (1120 − 120) / (101 − 1)
      outputTokensPerSecond: 101 / 1.12,
      durationMs: 1120,
      samples: 1,
      updatedAtMs: 1_000,
    });
  });

  it.each<[string, Omit<RequestSample, "success">, Record<string, number | undefined>]>([
    ["one token: no TPOT", { firstTokenMs: 50, durationMs: 60, completionTokens: 1 }, { tpotMs: undefined }],
    [
      "two tokens: TPOT is the gap",
      { firstTokenMs: 50, durationMs: 80, completionTokens: 2 },
      { tpotMs: 30 },
    ],
    [
      "no token count: no TPOT or rate",
      { firstTokenMs: 50, durationMs: 80 },
      { tpotMs: undefined, outputTokensPerSecond: undefined },
    ],
    [
      "end before first token: no TPOT",
      { firstTokenMs: 90, durationMs: 80, completionTokens: 5 },
      { tpotMs: undefined },
    ],
    [
      "zero duration: no rate",
      { firstTokenMs: 0, durationMs: 0, completionTokens: 3 },
      { outputTokensPerSecond: undefined, tpotMs: 0 },
    ],
    [
      "zero tokens: a rate of 0",
      { durationMs: 500, completionTokens: 0 },
      { outputTokensPerSecond: 0, ttftMs: undefined },
    ],
    [
      "no first token: duration and rate only",
      { durationMs: 2000, completionTokens: 10 },
      { ttftMs: undefined, outputTokensPerSecond: 5, durationMs: 2000 },
    ],
  ])("%s", (_label, sample, expected) => {
    const { obs } = setup();
    obs.record("p", ok(sample));
    const got = obs.get("p");
    for (const [field, value] of Object.entries(expected)) {
      const actual = got?.[field as keyof typeof got];
      if (value === undefined) expect(got && field in got).toBe(false);
      else expect(actual).toBeCloseTo(value, 9);
    }
  });

  it.each<[string, RequestSample]>([
    ["failed", { success: false, firstTokenMs: 10, durationMs: 20, completionTokens: 3 }],
    ["NaN", ok({ firstTokenMs: NaN, durationMs: NaN })],
    ["negative", ok({ firstTokenMs: -1, durationMs: -5, completionTokens: 4 })],
    ["infinite", ok({ firstTokenMs: Infinity, durationMs: Infinity })],
    ["timeless", ok({ completionTokens: 12 })],
  ])("ignores a %s sample", (_label, sample) => {
    const { obs } = setup();
    obs.record("p", sample);
    expect(obs.get("p")).toBeUndefined();
    obs.record("q", ok({ firstTokenMs: 10 }));
    obs.record("q", sample);
    expect(obs.get("q")).toMatchObject({ ttftMs: 10, samples: 1 });
    expect([...obs.keys()]).toEqual(["q"]);
  });

  it("ignores only the bad figures of a partly bad sample", () => {
    const { obs } = setup();
    obs.record("p", ok({ firstTokenMs: 100, durationMs: -3, completionTokens: 5 }));
    expect(obs.get("p")).toEqual({ ttftMs: 100, samples: 1, updatedAtMs: 1_000 });
  });

  it("averages samples arriving together with equal weight", () => {
    const { obs } = setup();
    obs.record("p", ok({ firstTokenMs: 100 }));
    obs.record("p", ok({ firstTokenMs: 300 }));
    expect(obs.get("p")?.ttftMs).toBeCloseTo(200, 9);
    expect(obs.get("p")?.samples).toBe(2);
  });

  it.each<[number, number]>([
    // The old sample's weight is w = 2^(−Δt/h) against the new one's 1: mean = (100·w + 300) / (w + 1).
    [0, 1],
    [DEFAULT_HALF_LIFE_MS, 0.5],
    [2 * DEFAULT_HALF_LIFE_MS, 0.25],
    [20 * DEFAULT_HALF_LIFE_MS, 2 ** -20],
  ])("decays an old sample's weight with the half-life (Δt %d ms → weight %d)", (gapMs, w) => {
    const { obs, advance } = setup();
    obs.record("p", ok({ firstTokenMs: 100 }));
    advance(gapMs);
    obs.record("p", ok({ firstTokenMs: 300 }));
    expect(obs.get("p")?.ttftMs).toBeCloseTo((100 * w + 300) / (w + 1), 9);
  });

  it("keeps the mean while idle, and lets the first new sample dominate after a long gap", () => {
    const { obs, advance } = setup({ halfLifeMs: 1_000 });
    for (let i = 0; i < 50; i++) obs.record("p", ok({ firstTokenMs: 1_000 }));
    advance(60_000);
    expect(obs.get("p")?.ttftMs).toBe(1_000); // reading does not decay anything
    obs.record("p", ok({ firstTokenMs: 10 }));
    expect(obs.get("p")?.ttftMs).toBeCloseTo(10, 6);
  });

  it("decays each figure on every sample, even those the sample lacks", () => {
    const { obs, advance } = setup({ halfLifeMs: 1_000 });
    obs.record("p", ok({ firstTokenMs: 100, durationMs: 1_100, completionTokens: 11 })); // tpot 100
    advance(1_000);
    obs.record("p", ok({ firstTokenMs: 100, durationMs: 100, completionTokens: 1 })); // no tpot
    advance(1_000);
    obs.record("p", ok({ firstTokenMs: 100, durationMs: 300, completionTokens: 11 })); // tpot 20
    // tpot weights: first 0.25, last 1 → (100·0.25 + 20) / 1.25
    expect(obs.get("p")?.tpotMs).toBeCloseTo(36, 9);
  });

  it("treats a clock stepping back as no time passing", () => {
    const { obs, advance } = setup();
    obs.record("p", ok({ firstTokenMs: 100 }));
    advance(-5_000);
    obs.record("p", ok({ firstTokenMs: 300 }));
    expect(obs.get("p")).toMatchObject({ ttftMs: 200, updatedAtMs: 1_000 });
  });

  it("evicts the least recently updated pod at the bound", () => {
    const { obs, advance } = setup({ maxPods: 3 });
    for (const key of ["a", "b", "c"]) {
      obs.record(key, ok({ firstTokenMs: 1 }));
      advance(1);
    }
    obs.record("a", ok({ firstTokenMs: 2 })); // a is now the most recent
    obs.record("d", ok({ firstTokenMs: 3 })); // evicts b
    expect([...obs.keys()].sort()).toEqual(["a", "c", "d"]);
    expect(obs.get("b")).toBeUndefined();
    obs.get("c"); // reading does not refresh
    obs.record("e", ok({ firstTokenMs: 4 }));
    expect([...obs.keys()].sort()).toEqual(["a", "d", "e"]);
  });

  it("forgets a deleted pod", () => {
    const { obs } = setup();
    obs.record("p", ok({ firstTokenMs: 5 }));
    obs.delete("p");
    obs.delete("p");
    expect(obs.get("p")).toBeUndefined();
    expect([...obs.keys()]).toEqual([]);
  });

  it("hands out frozen snapshots that later samples do not change", () => {
    const { obs } = setup();
    obs.record("p", ok({ firstTokenMs: 5 }));
    const first = obs.get("p");
    obs.record("p", ok({ firstTokenMs: 15 }));
    expect(first).toMatchObject({ ttftMs: 5, samples: 1 });
    expect(Object.isFrozen(first)).toBe(true);
    expect(obs.get("p")).toMatchObject({ ttftMs: 10, samples: 2 });
  });

  it.each<[string, { halfLifeMs?: number; maxPods?: number }, string]>([
    ["zero half-life", { halfLifeMs: 0 }, "halfLifeMs"],
    ["infinite half-life", { halfLifeMs: Infinity }, "halfLifeMs"],
    ["zero pods", { maxPods: 0 }, "maxPods"],
    ["fractional pods", { maxPods: 1.5 }, "maxPods"],
  ])("rejects %s", (_label, options, message) => {
    expect(() => createObservations({ now: () => 0, ...options })).toThrow(message);
  });
});
