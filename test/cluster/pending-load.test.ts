/**
 * Pending-load provider (AIBrix `pkg/cache/pending_load_provider.go`): consumption `1 / tput / e2e` at the
 * signature of `[outputTokens, inputTokens]`, utilization as a sum, headroom under cap 1.0, and the bounded
 * accumulator.
 */
import {
  fitsUnderCap,
  headroom,
  parseGpuProfile,
  PENDING_LOAD_CAP,
  PendingLoadAccumulator,
  podUtilization,
  requestConsumption,
} from "../../src/cluster";
import type { ConsumptionResult, GpuProfile } from "../../src/cluster";

function profile(over: Record<string, unknown> = {}): GpuProfile {
  const r = parseGpuProfile(
    JSON.stringify({
      gpu: "d",
      cost: 1,
      // rows: output tokens [4, 16]; columns: input tokens [64, 256]
      indexes: [
        [4, 16],
        [64, 256],
      ],
      tputs: [
        [4, 2],
        [0, 1],
      ],
      e2e: [
        [0.5, 1],
        [2, 4],
      ],
      created: 1,
      ...over,
    }),
  );
  if (!r.ok) throw new Error(r.error);
  return r.value;
}

describe("requestConsumption", () => {
  it.each<[string, number, number, ConsumptionResult]>([
    // sig [0,0]: 1 / 4 / 0.5
    ["short in, short out", 64, 4, { ok: true, value: 0.5 }],
    // input 300 > 256 clamps to column 1; output 1 clamps to row 0: 1 / 2 / 1
    ["long in, short out", 300, 1, { ok: true, value: 0.5 }],
    // output 8 (midpoint of 4 and 16 in log2) → row 1; input 127 < 128 → column 0: tput 0
    ["throughput 0 → SLO failure", 127, 8, { ok: false, error: "slo-failure" }],
    // row 1, column 1 (input 128 is the midpoint → higher): 1 / 1 / 4
    ["long in, long out", 128, 16, { ok: true, value: 0.25 }],
    ["negative tokens", -1, 4, { ok: false, error: "signature" }],
  ])("%s", (_name, input, output, expected) => {
    expect(requestConsumption(profile(), input, output)).toEqual(expected);
  });

  it.each<[string, GpuProfile | undefined, ConsumptionResult]>([
    ["no profile", undefined, { ok: false, error: "no-profile" }],
    ["no e2e matrix", profile({ e2e: undefined }), { ok: false, error: "no-data" }],
    ["matrix smaller than the index", profile({ tputs: [[4]] }), { ok: false, error: "no-data" }],
    [
      "zero latency",
      profile({
        e2e: [
          [0, 0],
          [0, 0],
        ],
      }),
      { ok: false, error: "invalid-latency" },
    ],
    ["one-dimensional index", profile({ indexes: [[4, 16]] }), { ok: false, error: "signature" }],
  ])("%s", (_name, p, expected) => {
    expect(requestConsumption(p, 300, 16)).toEqual(expected);
  });
});

describe("utilization arithmetic", () => {
  it.each<[number[], number]>([
    [[], 0],
    [[0.5], 0.5],
    [[0.25, 0.5, 0.125], 0.875],
  ])("sum of %j = %d", (cs, expected) => {
    expect(podUtilization(cs)).toBe(expected);
  });

  it.each<[number, number, number, boolean]>([
    // util, consumption, headroom, fits (util + consumption <= cap)
    [0, 0.5, 1, true],
    [0.5, 0.5, 0.5, true],
    [0.75, 0.5, 0.25, false],
    [1, 0, 0, true],
    [1.25, 0, -0.25, false],
  ])("util %d + consumption %d: headroom %d, fits %s", (util, c, room, fits) => {
    expect(headroom(util)).toBe(room);
    expect(fitsUnderCap(util, c)).toBe(fits);
  });

  it("takes a custom cap", () => {
    expect(PENDING_LOAD_CAP).toBe(1);
    expect(headroom(1, 2)).toBe(1);
    expect(fitsUnderCap(1.5, 0.5, 2)).toBe(true);
  });
});

describe("PendingLoadAccumulator", () => {
  it("reserves and releases per pod", () => {
    const acc = new PendingLoadAccumulator();
    expect(acc.reserve("ns/a", "r1", 0.5)).toBe(true);
    expect(acc.reserve("ns/a", "r2", 0.25)).toBe(true);
    expect(acc.reserve("ns/b", "r3", 0.125)).toBe(true);
    expect(acc.utilization("ns/a")).toBe(0.75);
    expect(acc.utilization("ns/b")).toBe(0.125);
    expect(acc.utilization("ns/c")).toBe(0);
    expect(acc.inFlight("ns/a")).toBe(2);
    expect(acc.release("ns/a", "r1")).toBe(0.5);
    expect(acc.release("ns/a", "r1")).toBe(0);
    expect(acc.release("ns/x", "r1")).toBe(0);
    expect(acc.utilization("ns/a")).toBe(0.25);
    expect(acc.release("ns/a", "r2")).toBe(0.25);
    expect(acc.utilization("ns/a")).toBe(0);
    expect(acc.size()).toBe(1);
    acc.dropPod("ns/b");
    expect(acc.size()).toBe(0);
  });

  it("returns to exactly 0 after float-drifting sums", () => {
    const acc = new PendingLoadAccumulator();
    for (let i = 0; i < 10; i++) acc.reserve("p", `r${i}`, 0.1);
    for (let i = 0; i < 9; i++) acc.release("p", `r${i}`);
    expect(acc.utilization("p")).toBeGreaterThanOrEqual(0);
    acc.release("p", "r9");
    expect(acc.utilization("p")).toBe(0);
  });

  it.each<[string, number]>([
    ["negative", -0.1],
    ["NaN", NaN],
    ["infinite", Infinity],
  ])("refuses a %s consumption", (_name, c) => {
    const acc = new PendingLoadAccumulator();
    expect(acc.reserve("p", "r", c)).toBe(false);
    expect(acc.size()).toBe(0);
  });

  it("refuses duplicates and enforces its bounds without evicting", () => {
    const acc = new PendingLoadAccumulator({ maxPods: 2, maxPerPod: 2 });
    expect(acc.reserve("a", "r1", 0.1)).toBe(true);
    expect(acc.reserve("a", "r1", 0.1)).toBe(false);
    expect(acc.reserve("a", "r2", 0.1)).toBe(true);
    expect(acc.reserve("a", "r3", 0.1)).toBe(false);
    expect(acc.reserve("b", "r1", 0.1)).toBe(true);
    expect(acc.reserve("c", "r1", 0.1)).toBe(false);
    expect(acc.utilization("a")).toBeCloseTo(0.2);
    acc.release("b", "r1");
    expect(acc.reserve("c", "r1", 0.1)).toBe(true);
  });
});
