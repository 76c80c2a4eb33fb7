/**
 * The contract every strategy must pass. Each strategy's test file calls {@link runStrategyContract} and then adds
 * its own table of cases.
 *
 * @module
 */
import type { EngineMetrics } from "../../src/cluster/engine-metrics";
import type { PodObservation } from "../../src/cluster/observations";
import type { Pod } from "../../src/cluster/pod";
import { Code, RouteError } from "../../src/errors";
import { createDirector, type DirectorObserver } from "../../src/routing/director";
import type { PreparedPrompt, StrategyDeps, StrategyFactory } from "../../src/routing/framework";
import { createStrategyRegistry } from "../../src/routing/registry";
import { STRATEGY_NAME } from "../../src/routing/strategy-spec";
import {
  byPod,
  headersOf,
  makeContext,
  makeFleet,
  makeRequest,
  MODEL,
  preload,
  seededRandom,
  type Fleet,
} from "./pods";

/** Options of {@link runStrategyContract}. */
export interface StrategyContractOptions<P> {
  /** Suite title, normally the strategy type. */
  readonly name: string;
  readonly factory: StrategyFactory<P>;
  /** Params for the factory (raw, as from configuration). Default `{}`. */
  readonly params?: unknown;
  /**
   * Request header sets the checks run under, so header-driven strategies exercise each branch (abstaining,
   * sticky, hashed). Default: no headers.
   */
  readonly headerSets?: readonly Readonly<Record<string, string>>[];
  /**
   * Engine-metric / observation sets the checks run under (each crossed with every header set), so signal-driven
   * strategies exercise both their scoring and their abstaining paths. Default: one set with no signals.
   */
  readonly signalSets?: readonly ContractSignals[];
  /** LoRA adapters every fixture pod serves. Default none. */
  readonly adapters?: readonly string[];
  /** The model requests name (an adapter, for `lora-affinity`). Default {@link MODEL}. */
  readonly model?: string;
  /** Dependencies for the factory and the director's registry (fresh per call). Default: `{ now: () => 0 }` / the registry's. */
  readonly deps?: () => StrategyDeps;
  /** The prepared prompt of the direct `score` checks (fresh per call). Default: nothing tokenized. */
  readonly prompt?: () => PreparedPrompt;
}

/** Signals of one contract run, per pod index of the fixture fleet (undefined: the pod has none). */
export interface ContractSignals {
  readonly metrics?: (podIndex: number) => EngineMetrics | undefined;
  readonly observations?: (podIndex: number) => PodObservation | undefined;
}

/** The maps `makeContext` and the director read, built from `signals` for `pods`. */
function signalMaps(pods: readonly Pod[], signals: ContractSignals) {
  return {
    metrics: byPod(
      pods,
      pods.map((_, i) => signals.metrics?.(i)),
    ),
    observations: byPod(
      pods,
      pods.map((_, i) => signals.observations?.(i)),
    ),
  };
}

const POD_COUNTS = [1, 2, 3, 8, 33];
const LOAD_PATTERNS: readonly ((i: number) => number)[] = [
  () => 0,
  (i) => i,
  (i) => (i * 7) % 5,
  (i) => 40 - i,
];

/** Define a `describe` block checking the routing contract for one strategy. */
export function runStrategyContract<P>(options: StrategyContractOptions<P>): void {
  const { name, factory } = options;
  const headerSets = options.headerSets ?? [{}];
  const signalSets = options.signalSets ?? [{}];
  const model = options.model ?? MODEL;
  const fleetOptions = { adapters: options.adapters ?? [] };
  const rawParams = options.params ?? {};
  /** Every (headers, signals) pair the checks run under. */
  const inputs = headerSets.flatMap((headers) => signalSets.map((signals) => ({ headers, signals })));

  const { deps, prompt } = options;
  const strategy = () =>
    factory.create(factory.paramsSchema.parse(rawParams), deps ? deps() : { now: () => 0 });
  const director = (fleet: Fleet, signals: ContractSignals, observer: DirectorObserver = {}, seed = 7) => {
    const registry = createStrategyRegistry({
      params: { [factory.type]: rawParams },
      ...(deps ? { deps: deps() } : {}),
    });
    registry.register(factory);
    const maps = signalMaps(fleet.pods, signals);
    return createDirector({
      registry,
      cluster: () => fleet.store.snapshot(),
      load: fleet.load,
      defaultStrategy: factory.type,
      observer,
      random: seededRandom(seed),
      metrics: { fresh: (key) => maps.metrics.get(key) },
      observations: { get: (key) => maps.observations.get(key) },
    });
  };
  const route = (
    d: ReturnType<typeof director>,
    headers: Readonly<Record<string, string>> = {},
    requestModel = model,
  ) =>
    d.route({
      requestId: "r",
      request: makeRequest(requestModel, 10),
      headers: headersOf(headers),
      strategyHeader: undefined,
    });

  describe(`strategy contract: ${name}`, () => {
    it("has a kebab-case type matching the factory and declares what it reads", () => {
      const s = strategy();
      expect(s.type).toBe(factory.type);
      expect(STRATEGY_NAME.test(s.type)).toBe(true);
      expect(s.reads.length).toBeGreaterThan(0);
    });

    it("returns index-aligned scores in [0, 1], or abstains with a kebab-case reason", () => {
      const s = strategy();
      let seed = 1;
      for (const n of POD_COUNTS) {
        for (const pattern of LOAD_PATTERNS) {
          for (const { headers, signals } of inputs) {
            const fleet = makeFleet(n, fleetOptions);
            preload(
              fleet.load,
              fleet.pods,
              fleet.pods.map((_, i) => pattern(i)),
            );
            const ctx = makeContext(fleet.load, {
              headers,
              random: seededRandom(seed++),
              request: { model },
              ...signalMaps(fleet.pods, signals),
              ...(prompt ? { prompt: prompt() } : {}),
            });
            const result = s.score(ctx, fleet.pods);
            if (result.t !== "scores") {
              // A strategy only waits when it says it may; either way the reason is a metric-safe constant.
              if (result.t === "wait") expect(s.mayWait).toBe(true);
              expect(STRATEGY_NAME.test(result.reason)).toBe(true);
              // A declared strategy abstains only for reasons it declared (the behaviour suite checks more).
              if (factory.contract) expect(factory.contract.abstainsWhen).toContain(result.reason);
              continue;
            }
            expect(result.scores.length).toBe(n);
            for (const x of Array.from(result.scores)) {
              expect(Number.isFinite(x)).toBe(true);
              expect(x).toBeGreaterThanOrEqual(0);
              expect(x).toBeLessThanOrEqual(1);
            }
          }
        }
      }
    });

    it("copes with an empty candidate list when called directly", () => {
      const s = strategy();
      const fleet = makeFleet(0, fleetOptions);
      for (const { headers } of inputs) {
        const result = s.score(makeContext(fleet.load, { headers, request: { model } }), []);
        if (result.t === "scores") expect(result.scores.length).toBe(0);
      }
    });

    it("never picks an unready pod through the director", () => {
      const fleet = makeFleet(6, { ...fleetOptions, unready: [0, 2, 3, 5] });
      for (const { headers, signals } of inputs) {
        const d = director(fleet, signals);
        for (let k = 0; k < 100; k++) {
          const pick = route(d, headers);
          if (pick.t === "none") throw new Error("expected a pick");
          expect(pick.pod.ready).toBe(true);
          pick.release({ kind: "success" });
        }
      }
      expect(fleet.load.totalRequests()).toBe(0);
    });

    it("answers none when no pod is ready, and UnknownModel when no pod serves the model", () => {
      const fleet = makeFleet(3, { ...fleetOptions, unready: [0, 1, 2] });
      for (const { headers, signals } of inputs) {
        const d = director(fleet, signals);
        expect(route(d, headers)).toEqual({ t: "none", code: Code.NoReadyPod, strategy: factory.type });
        let thrown: unknown;
        try {
          route(d, headers, "no-such-model");
        } catch (err) {
          thrown = err;
        }
        expect(thrown).toBeInstanceOf(RouteError);
        expect((thrown as RouteError).code).toBe(Code.UnknownModel);
      }
      expect(fleet.load.totalRequests()).toBe(0);
    });

    it("reserves on pick and releases exactly once however often release is called", () => {
      const fleet = makeFleet(4, fleetOptions);
      const released: string[] = [];
      const observer: DirectorObserver = {
        onRelease: (pod, outcome) => released.push(`${pod.key}:${outcome.kind}`),
      };
      for (const { headers, signals } of inputs) {
        const d = director(fleet, signals, observer);
        const pick = route(d, headers);
        if (pick.t === "none") throw new Error("expected a pick");
        expect(fleet.load.get(pick.pod.key)).toEqual({ requests: 1, tokens: 10 });
        pick.release({ kind: "success" });
        expect(fleet.load.get(pick.pod.key)).toEqual({ requests: 0, tokens: 0 });
        pick.release({ kind: "error" });
        expect(fleet.load.totalRequests()).toBe(0);
        expect(released).toEqual([`${pick.pod.key}:success`]);
        released.length = 0;
      }
    });

    it("turns an abstention into a counted fallback pick on the least-loaded pod", () => {
      for (const { headers, signals } of inputs) {
        const fleet = makeFleet(4, fleetOptions);
        preload(fleet.load, fleet.pods, [3, 1, 0, 2]);
        const fallbacks: [string, string][] = [];
        const d = director(fleet, signals, { onFallback: (t, r) => fallbacks.push([t, r]) });
        const pick = route(d, headers);
        if (pick.t === "none") throw new Error("expected a pick");
        if (pick.t === "routed") {
          expect(fallbacks).toEqual([]);
        } else {
          expect(pick).toMatchObject({
            strategy: factory.type,
            fallbackTo: "least-request",
            pod: fleet.pods[2],
          });
          expect(STRATEGY_NAME.test(pick.reason)).toBe(true);
          expect(fallbacks).toEqual([[factory.type, pick.reason]]);
        }
        pick.release({ kind: "success" });
      }
    });

    it("leaves every load at zero after 200 picks and their releases", () => {
      const fleet = makeFleet(5, fleetOptions);
      for (const { headers, signals } of inputs) {
        const d = director(fleet, signals);
        const picks = Array.from({ length: 200 }, () => route(d, headers));
        expect(fleet.load.totalRequests()).toBe(200);
        for (const p of picks) if (p.t !== "none") p.release({ kind: "success" });
        for (const p of picks) if (p.t !== "none") p.release({ kind: "success" });
        expect(fleet.load.totalRequests()).toBe(0);
        expect([...fleet.load.entries()]).toEqual([]);
      }
    });
  });
}
