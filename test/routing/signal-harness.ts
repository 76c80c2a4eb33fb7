/**
 * Fixtures for the signal-driven strategies (engine metrics, observations): score a strategy directly over given
 * per-pod signals, and route through a real director with every built-in registered.
 *
 * @module
 */
import type { EngineMetrics } from "../../src/cluster/engine-metrics";
import type { PodObservation } from "../../src/cluster/observations";
import type { InferenceRequest } from "../../src/request/inference-request";
import { createDirector } from "../../src/routing/director";
import type { Pick, ScoreResult, Strategy } from "../../src/routing/framework";
import { createStrategyRegistry } from "../../src/routing/registry";
import { registerBuiltins } from "../../src/routing/strategies";
import { byPod, headersOf, makeContext, makeFleet, makeRequest, MODEL, preload, seededRandom } from "./pods";

/** Per-pod inputs, index-aligned with the fixture fleet (undefined: the pod has no such signal). */
export interface SignalCase {
  readonly inflight?: readonly number[];
  readonly metrics?: readonly (EngineMetrics | undefined)[];
  readonly observations?: readonly (PodObservation | undefined)[];
  /** Replaces fields of the request (e.g. `model`, `maxTokens`). */
  readonly request?: Partial<InferenceRequest>;
  /** LoRA adapters every pod serves. */
  readonly adapters?: readonly string[];
}

/** Number of pods a case describes (the longest of its arrays). */
function podCount(c: SignalCase): number {
  return Math.max(c.inflight?.length ?? 0, c.metrics?.length ?? 0, c.observations?.length ?? 0);
}

/** Call `strategy.score` directly on a fleet built from `c`. */
export function scoreCase(strategy: Strategy, c: SignalCase): ScoreResult {
  const fleet = makeFleet(podCount(c), { adapters: c.adapters ?? [] });
  preload(fleet.load, fleet.pods, c.inflight ?? []);
  const ctx = makeContext(fleet.load, {
    metrics: byPod(fleet.pods, c.metrics ?? []),
    observations: byPod(fleet.pods, c.observations ?? []),
    ...(c.request ? { request: c.request } : {}),
  });
  return strategy.score(ctx, fleet.pods);
}

/** Expect `result` to be scores close to `expected` (to 9 decimals), or the abstention `expected` names. */
export function expectResult(result: ScoreResult, expected: readonly number[] | string): void {
  if (typeof expected === "string") {
    expect(result).toEqual({ t: "abstain", reason: expected });
    return;
  }
  if (result.t !== "scores") throw new Error(`expected scores, got abstain ${result.reason}`);
  expect(result.scores.length).toBe(expected.length);
  Array.from(result.scores).forEach((s, i) => expect(s).toBeCloseTo(expected[i] as number, 9));
}

/**
 * A director with every built-in registered over a fleet built from `c`. `route(spec)` returns the pick and its
 * pod index; `fallbacks` records `onFallback` calls.
 */
export function routeCase(c: SignalCase, params: Readonly<Record<string, unknown>> = {}) {
  const fleet = makeFleet(podCount(c), { adapters: c.adapters ?? [] });
  preload(fleet.load, fleet.pods, c.inflight ?? []);
  const metrics = byPod(fleet.pods, c.metrics ?? []);
  const observations = byPod(fleet.pods, c.observations ?? []);
  const fallbacks: [string, string][] = [];
  const registry = createStrategyRegistry({ params });
  registerBuiltins(registry);
  const director = createDirector({
    registry,
    cluster: () => fleet.store.snapshot(),
    load: fleet.load,
    defaultStrategy: "least-request",
    random: seededRandom(3),
    observer: { onFallback: (t, r) => fallbacks.push([t, r]) },
    metrics: { fresh: (key) => metrics.get(key) },
    observations: { get: (key) => observations.get(key) },
  });
  const route = (spec: string): { pick: Pick; index: number } => {
    const pick = director.route({
      requestId: "r",
      request: makeRequest(c.request?.model ?? MODEL, 10, c.request ?? {}),
      headers: headersOf(),
      strategyHeader: spec,
    });
    return { pick, index: pick.t === "none" ? -1 : fleet.pods.indexOf(pick.pod) };
  };
  return { fleet, route, fallbacks };
}

/** One routing expectation: spec, inputs, expected pod index, and the `[type, reason]` of an expected fallback. */
export type RouteRow = [
  label: string,
  spec: string,
  input: SignalCase,
  pod: number,
  fallback?: readonly [string, string],
];

/**
 * Route `input` with `spec` through a real director and check the pod, and that the pick is `routed` — or, when
 * `fallback` is given, a `fallback` pick with `fallbackTo: "least-request"` and that reason, reported once through
 * `onFallback(type, reason)`.
 */
export function expectRoute(...row: RouteRow): void {
  const [, spec, input, pod, fallback] = row;
  const { route, fallbacks } = routeCase(input);
  const { pick, index } = route(spec);
  expect(index).toBe(pod);
  if (fallback) {
    expect(pick).toMatchObject({
      t: "fallback",
      reason: fallback[1],
      fallbackTo: "least-request",
      strategy: spec,
    });
    expect(fallbacks).toEqual([fallback]);
  } else {
    expect(pick.t).toBe("routed");
    expect(fallbacks).toEqual([]);
  }
}
