import {
  expectedLatencyMs,
  factory,
  paramsSchema,
  TYPE,
} from "../../../src/routing/strategies/least-latency";
import { makeObservation } from "../pods";
import { expectResult, expectRoute, scoreCase, type RouteRow, type SignalCase } from "../signal-harness";
import { runStrategyContract } from "../strategy-contract";

runStrategyContract({
  name: TYPE,
  factory,
  signalSets: [
    {},
    { observations: (i) => makeObservation({ ttftMs: 50 + i * 10, tpotMs: 5 + (i % 3), durationMs: 900 }) },
    { observations: (i) => (i % 2 === 0 ? makeObservation({ ttftMs: 80, tpotMs: 7 }) : undefined) },
    { observations: () => makeObservation({ ttftMs: 80 }) },
  ],
});

/** A pod observed with these means. */
const obs = (ttftMs: number, tpotMs: number, durationMs?: number) =>
  makeObservation({ ttftMs, tpotMs, ...(durationMs === undefined ? {} : { durationMs }) });
// Expected latencies at the default 128 output tokens: own = ttft + tpot × 127.
const A = obs(100, 10, 1000); // 1370
const B = obs(300, 5, 900); // 935
const C = obs(200, 8); // 1216

describe(TYPE, () => {
  const strategy = factory.create(paramsSchema.parse({}), { now: () => 0 });
  const withParams = (raw: unknown) => factory.create(paramsSchema.parse(raw), { now: () => 0 });

  it("defaults: 128 tokens when max_tokens is unset, cap 2048, queue weight 1", () => {
    expect(paramsSchema.parse({})).toEqual({
      defaultOutputTokens: 128,
      maxOutputTokens: 2048,
      queueWeight: 1,
    });
    expect(() => paramsSchema.parse({ defaultOutputTokens: 0 })).toThrow();
    expect(() => paramsSchema.parse({ queueWeight: -1 })).toThrow();
    expect(() => paramsSchema.parse({ outputTokens: 5 })).toThrow();
  });

  it.each<[string, Parameters<typeof expectedLatencyMs>, number | undefined]>([
    ["own time only when idle", [A, 0, 128, 1], 1370],
    ["one output token: TTFT only", [A, 0, 1, 1], 100],
    ["queue = in flight × mean duration", [A, 2, 128, 1], 1370 + 2 * 1000],
    ["queue without a duration mean uses the own estimate", [C, 1, 128, 1], 1216 * 2],
    ["queue weight scales the queue term", [A, 2, 128, 0.5], 1370 + 1000],
    ["no TPOT → no estimate", [makeObservation({ ttftMs: 100 }), 0, 128, 1], undefined],
    ["no observation → no estimate", [undefined, 0, 128, 1], undefined],
  ])("expectedLatencyMs: %s", (_label, args, expected) => {
    const got = expectedLatencyMs(...args);
    if (expected === undefined) expect(got).toBeUndefined();
    else expect(got).toBeCloseTo(expected, 9);
  });

  it.each<[string, SignalCase, readonly number[] | string]>([
    ["lowest expected latency scores 1", { observations: [A, B, C] }, [0, 1, (1370 - 1216) / (1370 - 935)]],
    ["max_tokens short: TTFT matters more", { observations: [A, B], request: { maxTokens: 10 } }, [1, 0]],
    ["in-flight work adds a queue term", { observations: [A, B], inflight: [0, 1] }, [1, 0]],
    ["all equal → 1", { observations: [A, A] }, [1, 1]],
    ["a pod without observations scores 0", { observations: [undefined, A, B] }, [0, 0, 1]],
    ["a pod without TPOT scores 0", { observations: [makeObservation({ ttftMs: 1 }), A] }, [0, 1]],
    ["no observations → no-observations", { observations: [undefined, undefined] }, "no-observations"],
  ])("scores: %s", (_label, input, expected) => expectResult(scoreCase(strategy, input), expected));

  it("caps max_tokens at maxOutputTokens", () => {
    const fast = obs(100, 10);
    const slowStart = obs(5000, 5);
    const input: SignalCase = { observations: [fast, slowStart], request: { maxTokens: 100_000 } };
    expectResult(scoreCase(strategy, input), [0, 1]); // 2048 tokens: 20570 vs 15235
    expectResult(scoreCase(withParams({ maxOutputTokens: 10 }), input), [1, 0]); // 190 vs 5045
  });

  it("queueWeight 0 ignores what is in flight", () => {
    expectResult(
      scoreCase(withParams({ queueWeight: 0 }), { observations: [A, B], inflight: [0, 9] }),
      [0, 1],
    );
  });

  it.each<RouteRow>([
    ["no Prometheus needed: picks the fastest observed pod", TYPE, { observations: [A, B, C] }, 1],
    [
      "mixed: an observed pod beats an unobserved one",
      TYPE,
      { observations: [undefined, A], inflight: [0, 1] },
      1,
    ],
    [
      "no observations: counted fallback to the least in flight",
      TYPE,
      { observations: [undefined, undefined, undefined], inflight: [1, 1, 0] },
      2,
      [TYPE, "no-observations"],
    ],
    [
      "least-latency:2,least-request",
      "least-latency:2,least-request",
      { observations: [A, B], inflight: [0, 0] },
      1,
    ],
  ])("routes: %s", expectRoute);
});
