/**
 * Output predictor (AIBrix `pkg/cache/output_predictor.go`): bucketing, weighted random draw, cold
 * prediction, the moving 240 s window and the model bound. Pure: injected clock and random source.
 */
import {
  COLD_PREDICTION,
  OutputPredictor,
  predictorBucket,
  predictorBucketCount,
  PREDICTOR_MAX_TOKENS,
} from "../../src/usage";

describe("predictor buckets", () => {
  it("has 21 buckets for 1,048,576 tokens", () => {
    expect(predictorBucketCount(PREDICTOR_MAX_TOKENS)).toBe(21);
  });

  it.each([
    [0, 0],
    [-1, 0],
    [1, 0],
    [2, 1],
    [3, 2], // round(1.585)
    [5, 2], // round(2.32)
    [6, 3], // round(2.585)
    [1000, 10],
    [1_048_576, 20],
    [10_000_000, 20], // clamped to limit - 1
  ])("tokens %d -> bucket %d", (tokens, bucket) => {
    expect(predictorBucket(tokens, 21)).toBe(bucket);
  });
});

describe("OutputPredictor", () => {
  let nowMs = 1_000_000_000;
  let draws: number[] = [];
  const make = (maxModels?: number): OutputPredictor =>
    new OutputPredictor({
      now: () => nowMs,
      randInt: (n: number) => {
        const d = draws.shift() ?? 0;
        expect(d).toBeLessThan(n);
        return d;
      },
      ...(maxModels === undefined ? {} : { maxModels }),
    });
  beforeEach(() => {
    nowMs = 1_000_000_000;
    draws = [];
  });

  it("returns undefined without history and the optimistic cold prediction via predictOrCold", () => {
    const p = make();
    expect(p.predict("m", 100)).toBeUndefined();
    expect(p.predictOrCold("m", 100)).toBe(COLD_PREDICTION);
    p.record("m", 1000, 64);
    // Another input bucket of the same model has no history either.
    expect(p.predict("m", 10)).toBeUndefined();
    expect(p.predictOrCold("m", 10)).toBe(1);
  });

  it("draws output buckets weighted by count and returns 2^bucket", () => {
    const p = make();
    p.record("m", 1000, 16); // bucket 4
    p.record("m", 1000, 16);
    p.record("m", 1000, 1000); // bucket 10
    p.record("m", 1030, 4096); // same input bucket (10), output bucket 12
    // Cumulative: [4]=2, [10]=3, [12]=4 over range 4.
    const table: [number, number][] = [
      [0, 16],
      [1, 16],
      [2, 1024],
      [3, 4096],
    ];
    for (const [draw, expected] of table) {
      draws = [draw];
      expect(p.predict("m", 1000)).toBe(expected);
    }
  });

  it("keeps models apart and counts `count` at once", () => {
    const p = make();
    p.record("a", 100, 8, 5);
    p.record("b", 100, 512);
    draws = [4];
    expect(p.predict("a", 100)).toBe(8);
    draws = [0];
    expect(p.predict("b", 100)).toBe(512);
  });

  it("forgets traces older than the 240 s window", () => {
    const p = make();
    p.record("m", 100, 2);
    nowMs += 120_000;
    p.record("m", 100, 1024);
    draws = [0];
    expect(p.predict("m", 100)).toBe(2);
    nowMs += 125_000; // the first slot is now 245 s old
    draws = [0];
    expect(p.predict("m", 100)).toBe(1024);
    nowMs += 240_000;
    expect(p.predict("m", 100)).toBeUndefined();
  });

  it("reuses ring slots without double counting", () => {
    const p = make();
    for (let i = 0; i < 100; i++) {
      nowMs += 10_000;
      p.record("m", 100, 32);
    }
    // 24 slots (the current one included) x 1 trace live: the draw range is 24.
    draws = [23];
    expect(p.predict("m", 100)).toBe(32);
  });

  it("bounds the number of models, evicting the least recently recorded", () => {
    const p = make(2);
    p.record("a", 1, 1);
    p.record("b", 1, 1);
    p.record("a", 1, 1);
    p.record("c", 1, 1);
    expect(p.size()).toBe(2);
    expect(p.predict("b", 1)).toBeUndefined();
    expect(p.predict("a", 1)).toBe(1);
    expect(p.predict("c", 1)).toBe(1);
  });
});
