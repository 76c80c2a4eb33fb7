import type { LoraState } from "../../../src/cluster/engine-metrics";
import {
  ACTIVE_SCORE,
  factory,
  FULL_SCORE,
  QUEUED_SCORE,
  ROOM_SCORE,
  TYPE,
} from "../../../src/routing/strategies/lora-affinity";
import { makeMetrics } from "../pods";
import { expectResult, expectRoute, scoreCase, type RouteRow, type SignalCase } from "../signal-harness";
import { runStrategyContract } from "../strategy-contract";

const ADAPTER = "sql-lora";

/** Fresh metrics with LoRA state (running, waiting, maxLora). */
const lora = (running: readonly string[], waiting: readonly string[] = [], maxLora?: number) => {
  const state: LoraState = { running, waiting, ...(maxLora === undefined ? {} : { maxLora }) };
  return makeMetrics({ lora: state });
};
/** Fresh metrics without LoRA state. */
const noLora = () => makeMetrics({ kvCacheUsage: 0.1 });

const signalSets = [
  {},
  {
    metrics: (i: number) =>
      [lora([ADAPTER], [], 4), lora(["x"], [], 4), lora(["x", "y"], [ADAPTER], 2), lora(["x", "y"], [], 2)][
        i % 4
      ],
  },
  { metrics: (i: number) => (i % 2 === 0 ? lora([], [], 1) : undefined) },
  { metrics: () => noLora() },
];
runStrategyContract({ name: TYPE, factory, adapters: [ADAPTER], model: ADAPTER, signalSets });
runStrategyContract({ name: `${TYPE} (base model)`, factory, adapters: [ADAPTER], signalSets });

describe(TYPE, () => {
  const strategy = factory.create({}, { now: () => 0 });
  const forAdapter = (c: SignalCase): SignalCase => ({
    adapters: [ADAPTER],
    request: { model: ADAPTER },
    ...c,
  });

  it.each<[string, SignalCase, readonly number[] | string]>([
    [
      "the four tiers: active > free slot > queued > full",
      forAdapter({
        metrics: [
          lora([ADAPTER], [], 2),
          lora(["b"], [], 2),
          lora(["b", "c"], [ADAPTER], 2),
          lora(["b", "c"], [], 2),
        ],
      }),
      [ACTIVE_SCORE, ROOM_SCORE, QUEUED_SCORE, FULL_SCORE],
    ],
    ["active even when over maxLora", forAdapter({ metrics: [lora([ADAPTER, "b", "c"], [], 2)] }), [1]],
    [
      "queued with a free slot counts as a free slot",
      forAdapter({ metrics: [lora(["b"], [ADAPTER], 4)] }),
      [0.8],
    ],
    [
      "an adapter both running and waiting counts once",
      forAdapter({ metrics: [lora(["b"], ["b"], 2)] }),
      [0.8],
    ],
    [
      "maxLora not reported: no slot assumed",
      forAdapter({ metrics: [lora(["b"]), lora([], [ADAPTER])] }),
      [FULL_SCORE, QUEUED_SCORE],
    ],
    [
      "no fresh metrics or no LoRA state → 0",
      forAdapter({ metrics: [undefined, noLora(), lora([], [], 1)] }),
      [0, 0, ROOM_SCORE],
    ],
    [
      "a base-model request → not-an-adapter",
      { adapters: [ADAPTER], metrics: [lora([ADAPTER], [], 2)] },
      "not-an-adapter",
    ],
    [
      "no fresh metrics → metrics-missing",
      forAdapter({ metrics: [undefined, undefined] }),
      "metrics-missing",
    ],
    [
      "no LoRA state → metric-not-reported",
      forAdapter({ metrics: [noLora(), undefined] }),
      "metric-not-reported",
    ],
  ])("scores: %s", (_label, input, expected) => expectResult(scoreCase(strategy, input), expected));

  const mixed = [lora([ADAPTER], [], 2), lora(["b"], [], 2)];
  it.each<RouteRow>([
    [
      "goes where the adapter is active despite load",
      TYPE,
      forAdapter({ metrics: [lora(["b", "c"], [], 2), lora([ADAPTER], [], 2)], inflight: [0, 6] }),
      1,
    ],
    [
      "a base model: counted fallback to the least in flight",
      TYPE,
      { adapters: [ADAPTER], metrics: mixed, inflight: [3, 1] },
      1,
      [TYPE, "not-an-adapter"],
    ],
    [
      "stale metrics: counted fallback",
      TYPE,
      forAdapter({ metrics: [undefined, undefined], inflight: [0, 2] }),
      0,
      [TYPE, "metrics-missing"],
    ],
    [
      "lora-affinity,least-request: an idle free slot beats a busy active pod",
      "lora-affinity,least-request",
      forAdapter({ metrics: mixed, inflight: [5, 0] }),
      1,
    ],
    [
      "lora-affinity:9,least-request: affinity dominates",
      "lora-affinity:9,least-request",
      forAdapter({ metrics: mixed, inflight: [5, 0] }),
      0,
    ],
  ])("routes: %s", expectRoute);
});
