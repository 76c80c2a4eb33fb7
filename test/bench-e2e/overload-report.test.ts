/**
 * The overload scenario's report arithmetic on hand-made records (no fleet, no kvroute): per-band percentiles,
 * goodput against the band's TTFT objective, drops by flow control's reason header, accepted-but-lost, Jain's
 * index over the window, the saturation knee, the targets, and the workload's tenants and headers.
 */
import type { RequestRecord } from "../../bench/e2e/run-workload";
import { bandResult, fairness, jainIndex } from "../../bench/overload-report";
import type { OverloadRecord } from "../../bench/overload-report";
import { kneeOf, saturationRateOf } from "../../bench/overload-saturation";
import { checkTargets, formatOverloadTable } from "../../bench/overload-table";
import type { OverloadModeResult, OverloadRunResult } from "../../bench/overload-table";
import {
  BURST_PERIOD_MS,
  OVERLOAD_TENANTS,
  overloadWorkload,
  tenantArrivals,
} from "../../bench/overload-workload";
import { prng } from "../../bench/e2e/text";
import { parseRoutingOptions } from "../../bench/routing-options";

let seq = 0;
function rec(over: Partial<RequestRecord>): RequestRecord {
  return {
    ok: true,
    e2eMs: 100,
    id: `r${++seq}`,
    scheduledMs: 0,
    sentMs: 0,
    inputTokens: 10,
    maxTokens: 2,
    ...over,
  };
}
const tag = (band: string, tenant: string, r: RequestRecord): OverloadRecord => ({ band, tenant, record: r });
const dropped = (reason: string, status: number): RequestRecord =>
  rec({
    ok: false,
    errorKind: "immediate_response",
    status,
    localReplyHeaders: { "x-kvroute-dropped-reason": reason },
  });

describe("overload report", () => {
  it("Jain's index: 1 when equal, 1/n when one tenant gets everything, 1 when nothing was served", () => {
    expect(jainIndex([5, 5, 5])).toBeCloseTo(1);
    expect(jainIndex([9, 0, 0])).toBeCloseTo(1 / 3);
    expect(jainIndex([0.7, 0.3])).toBeCloseTo(1 / 1.16);
    expect(jainIndex([0, 0])).toBe(1);
  });

  it("per band: TTFT percentiles of completed requests, goodput, drops by reason, accepted-but-lost", () => {
    const band = { name: "interactive", priority: 1, ttftSloMs: 50 };
    const ttfts = [10, 20, 30, 40, 50, 60, 70, 80, 90, 100];
    const records: OverloadRecord[] = [
      ...ttfts.map((t) => tag("interactive", "i", rec({ ttftMs: t }))),
      tag("interactive", "i", dropped("queue-full", 429)),
      tag("interactive", "i", dropped("ttl", 503)),
      tag("interactive", "i", dropped("ttl", 503)),
      // Accepted (no reason header) but failed: lost.
      tag(
        "interactive",
        "i",
        rec({ ok: false, errorKind: "upstream_status", status: 503, errorMessage: "busy" }),
      ),
      tag("interactive", "i", rec({ ok: false, errorKind: "immediate_response", status: 503 })),
      // Another band's: not counted here.
      tag("standard", "s", rec({ ttftMs: 1 })),
    ];
    const b = bandResult(band, records, 2000);
    expect(b.sent).toBe(15);
    expect(b.completed).toBe(10);
    expect(b.ttftMs.p50).toBeCloseTo(55);
    expect(b.ttftMs.p90).toBeCloseTo(91);
    expect(b.ttftMs.p99).toBeCloseTo(99.1);
    expect(b.good).toBe(5);
    expect(b.goodputPerSecond).toBeCloseTo(2.5);
    expect(b.drops).toEqual({ "queue-full": 1, ttl: 2 });
    expect(b.lost).toBe(2);
    expect(b.lostKinds).toEqual({ "upstream_status:503": 1, "immediate_response:503": 1 });
    expect(b.lostExamples).toEqual(["upstream_status:503: busy", "immediate_response:503: "]);
  });

  it("fairness counts the tokens of requests completed within the window, for the named tenants only", () => {
    const records = [
      tag("standard", "a", rec({ promptTokens: 100, outputTokens: 10, sentMs: 0, e2eMs: 500 })),
      tag("standard", "a", rec({ promptTokens: 100, outputTokens: 10, sentMs: 900, e2eMs: 500 })), // after window
      tag("standard", "b", rec({ promptTokens: 50, outputTokens: 5, sentMs: 0, e2eMs: 100 })),
      tag("standard", "b", dropped("shed", 503)),
      tag("interactive", "i", rec({ promptTokens: 1000, outputTokens: 10 })),
    ];
    const f = fairness(records, ["a", "b"], 1000);
    expect(f.servedTokens).toEqual({ a: 110, b: 55 });
    expect(f.jain).toBeCloseTo(jainIndex([110, 55]));
  });

  it("the saturation rate is the step below the first that queues", () => {
    const points = [
      { rate: 6, ttftP90Ms: 200, meanWaiting: 0 },
      { rate: 9, ttftP90Ms: 300, meanWaiting: 0.3 },
      { rate: 12, ttftP90Ms: 350, meanWaiting: 1.5 },
      { rate: 15, ttftP90Ms: 2000, meanWaiting: 9 },
    ];
    expect(kneeOf(points)?.rate).toBe(12);
    expect(saturationRateOf(points)).toBe(9);
    // TTFT alone also marks the knee (p90 over twice the lowest step's).
    expect(saturationRateOf([points[0]!, { rate: 9, ttftP90Ms: 401, meanWaiting: 0 }])).toBe(6);
    expect(saturationRateOf(points.slice(0, 2))).toBeUndefined();
  });

  it("targets: checked on the on mode only; each can fail", () => {
    const run = (p90: number, jainServed: [number, number], lost: number): OverloadRunResult => ({
      flowControl: "on",
      saturation: 2,
      rate: 24,
      requests: 10,
      windowSeconds: 1,
      wallSeconds: 1,
      bands: [
        {
          ...bandResult({ name: "interactive", priority: 1, ttftSloMs: 1 }, [], 1000),
          ttftMs: { count: 1, mean: p90, p50: p90, p90, p99: p90, max: p90 },
          lost,
        },
      ],
      fairness: { servedTokens: { a: jainServed[0], b: jainServed[1] }, jain: jainIndex(jainServed) },
      lost,
      flowCounters: {},
    });
    const good: OverloadModeResult = {
      mode: "on",
      unloaded: run(200, [1, 1], 0),
      loaded: run(390, [4, 3], 0),
    };
    expect(checkTargets([good]).map((t) => t.pass)).toEqual([true, true, true]);
    const bad: OverloadModeResult = {
      mode: "on",
      unloaded: run(200, [1, 1], 0),
      loaded: run(410, [7, 3], 1),
    };
    expect(checkTargets([bad]).map((t) => t.pass)).toEqual([false, false, false]);
    expect(checkTargets([{ ...bad, mode: "off" }])).toEqual([]);
    expect(formatOverloadTable([good]).split("\n")).toHaveLength(4);
  });
});

describe("overload workload", () => {
  it("every request carries its tenant's user and priority headers, in send order, shares as designed", () => {
    const w = overloadWorkload({ seed: 3, rate: 20, requests: 200 });
    const users = new Map<string, number>();
    for (const r of w.requests) users.set(r.headers?.user ?? "", (users.get(r.headers?.user ?? "") ?? 0) + 1);
    for (const t of OVERLOAD_TENANTS) expect(users.get(t.user)).toBe(Math.round(200 * t.share));
    const priorities = new Set(
      w.requests.map((r) => `${r.headers?.user}:${r.headers?.["x-kvroute-priority"]}`),
    );
    expect([...priorities].sort()).toEqual(["batch:-1", "interactive:1", "standard-a:0", "standard-b:0"]);
    const times = w.requests.map((r) => r.atMs);
    expect(times).toEqual([...times].sort((a, b) => a - b));
    expect(overloadWorkload({ seed: 3, rate: 20, requests: 200 })).toEqual(w);
  });

  it("bursty arrivals fall only in the first quarter of each burst period", () => {
    const times = tenantArrivals(400, 4, "bursty", prng(7));
    for (const t of times) expect(t % BURST_PERIOD_MS).toBeLessThan(BURST_PERIOD_MS / 4);
    // Mean rate as asked: 400 requests at 4/s span about 100 s.
    expect(times[times.length - 1]! / 1000).toBeGreaterThan(80);
    expect(times[times.length - 1]! / 1000).toBeLessThan(120);
  });

  it("parses the scenario's flags", () => {
    const o = parseRoutingOptions(["--scenario", "overload", "--saturation", "3", "--flow-control", "on"]);
    expect(o.workload).toBe("overload");
    expect(o.pods).toBe(2);
    expect(o.strategies.map((s) => s.key)).toEqual(["least-request"]);
    expect(o.overload).toMatchObject({ saturation: 3, flowControl: ["on"], measureSaturation: false });
    expect(parseRoutingOptions(["--scenario", "overload"]).overload.flowControl).toEqual(["off", "on"]);
    const tuned = ["--kvroute-arg=--flow-queue-depth-threshold=1", "--kvroute-arg=--flow-ttl-ms=5000"];
    expect(parseRoutingOptions(["--scenario", "overload", ...tuned]).overload.kvrouteArgs).toEqual([
      "--flow-queue-depth-threshold=1",
      "--flow-ttl-ms=5000",
    ]);
    expect(() => parseRoutingOptions(["--scenario", "overload", "--flow-control", "maybe"])).toThrow(
      /unknown mode maybe/,
    );
  });
});
