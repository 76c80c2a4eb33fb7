/**
 * Fixture builders of the behavioural strategy contract, one per declared {@link RankSignal}: each makes a fleet
 * of `n` pods where the pod at index `best` is the single best one by that signal and every other signal is level,
 * so a strategy that ranks by something else (or by position) picks another pod. The table is keyed by the closed
 * `RankSignal` type, so declaring a new signal does not compile until it has a builder here.
 *
 * @module
 */
import type { EngineMetrics } from "../../../src/cluster/engine-metrics";
import type { PodObservation } from "../../../src/cluster/observations";
import type { Pod } from "../../../src/cluster/pod";
import type { BlockHasher } from "../../../src/prefix/block-key";
import type { InferenceRequest } from "../../../src/request/inference-request";
import type { PreparedPrompt, StrategyDeps } from "../../../src/routing/framework";
import { SESSION_ID_HEADER } from "../../../src/routing/strategies/session-affinity";
import { USER_HEADER } from "../../../src/routing/strategies/vtc-basic";
import type { RankSignal } from "../../../src/routing/strategy-contract";
import type { GpuProfile } from "../../../src/cluster/gpu-profiles";
import { PendingLoadAccumulator } from "../../../src/cluster/pending-load";
import { makePrefixFixture } from "../../prefix/fixtures";
import { byPod, makeFleet, makeMetrics, makeObservation, makeRequest, preload, type Fleet } from "../pods";

/** The text every contract request sends: 64 characters, so 16 blocks of 4 under the character tokenizer. */
export const CONTRACT_TEXT = "The quick brown fox jumps over the lazy dog, then naps in the sun";
/** The LoRA adapter of the `active-lora-adapter` fixtures. */
const ADAPTER = "lora-a";

/** What a fixture builder is given: the request's prompt as the real preparer prepared it, and the hasher. */
export interface FixtureEnv {
  readonly prompt: PreparedPrompt;
  readonly hasher: BlockHasher;
}

/** One fleet where `best` is the single best pod by the signal (undefined for `random`: no pod is). */
export interface SignalFixture {
  /** Candidates in the order the strategy is given them; the cluster store holds the same pods. */
  readonly fleet: Fleet;
  readonly best: Pod | undefined;
  /**
   * The single best pod once `best` is gone, when the signal ranks the rest strictly; undefined when it does not
   * (session affinity, LoRA tiers, random).
   */
  readonly runnerUp?: Pod | undefined;
  readonly deps: StrategyDeps;
  readonly metrics: ReadonlyMap<string, EngineMetrics>;
  readonly observations: ReadonlyMap<string, PodObservation>;
  readonly headers: Readonly<Record<string, string>>;
  readonly request: InferenceRequest;
  /** The SLO accumulator, when the fixture has one (its load must return to what the fixture put there). */
  readonly pending?: PendingLoadAccumulator;
}

/** Builds the fixtures of one signal. */
export interface SignalFixtureBuilder {
  /** Most pods a fixture may have for `best` to be determined (power-of-two samples two). */
  readonly maxPods?: number;
  build(n: number, best: number, env: FixtureEnv): SignalFixture;
  /**
   * For strategies that may wait: deps under which one request takes a whole pod, so `n` picks fill the fleet
   * and the next request has to wait for a release.
   */
  readonly tight?: () => StrategyDeps;
}

/**
 * The value of a pod: `isBest` for the best one, else the j-th of the others, where larger `j` is strictly worse by
 * the signal; `j = 0` is the last pod that is not best, the runner-up.
 */
type Level = (isBest: boolean, j: number) => number;
const values = (n: number, best: number, level: Level): number[] =>
  // Counted from the end, so the runner-up is the last other pod: never the first candidate by position.
  Array.from({ length: n }, (_, i) => level(i === best, n - 2 - (i < best ? i : i - 1)));

/** The best pod at `best` and the runner-up (`j = 0`: the last other pod) of a {@link Level}-built fleet. */
const ranked = (pods: readonly Pod[], best: number) => ({
  best: pods[best],
  runnerUp: pods[best === pods.length - 1 ? pods.length - 2 : pods.length - 1],
});

/** The parts every fixture shares: a fleet of `n`, a plain request for the contract text. */
function base(n: number, over: Partial<SignalFixture> = {}, adapters: readonly string[] = []): SignalFixture {
  const fleet = over.fleet ?? makeFleet(n, { adapters });
  return {
    fleet,
    best: undefined,
    deps: { now: () => 0 },
    metrics: new Map(),
    observations: new Map(),
    headers: {},
    request: makeRequest(undefined, CONTRACT_TEXT.length / 4, { prompt: { t: "text", text: CONTRACT_TEXT } }),
    ...over,
  };
}

/** Fixture where pods differ only in one engine-metric figure. */
function byMetric(field: (v: number) => Partial<EngineMetrics>): SignalFixtureBuilder {
  return {
    build(n, best) {
      const f = base(n);
      const v = values(n, best, (isBest, j) => (isBest ? 0.1 : 0.5 + 0.1 * j));
      return {
        ...f,
        ...ranked(f.fleet.pods, best),
        metrics: byPod(
          f.fleet.pods,
          v.map((x) => makeMetrics(field(x))),
        ),
      };
    },
  };
}

/** Fixture where pods differ only in one observation. */
function byObservation(
  field: (v: number) => Partial<PodObservation>,
  level: Level,
  inflight = 0,
): SignalFixtureBuilder {
  return {
    build(n, best) {
      const f = base(n);
      preload(f.fleet.load, f.fleet.pods, Array<number>(n).fill(inflight));
      const v = values(n, best, level);
      return {
        ...f,
        ...ranked(f.fleet.pods, best),
        observations: byPod(
          f.fleet.pods,
          v.map((x) => makeObservation(field(x))),
        ),
      };
    },
  };
}

/** A GPU profile where one request consumes `1 / perPod` of a pod (as in the SLO strategy's tests). */
function profile(perPod: number): GpuProfile {
  return {
    deployment: "d",
    cost: 1,
    created: 1,
    indexes: [[0, 10], [0]],
    tputs: [[perPod], [1]],
    e2e: [[1], [1]],
  };
}

/** SLO deps over `pending`, every pod profiled at `perPod` requests. */
function sloDeps(pending: PendingLoadAccumulator, perPod: number): StrategyDeps {
  return { now: () => 0, slo: { profileFor: () => profile(perPod), pending, predictOutput: () => 1 } };
}

/** Fixture where pods differ only in SLO pending load (`level` in units of the pod's capacity). */
function byPendingLoad(level: Level): SignalFixtureBuilder {
  return {
    build(n, best) {
      const pending = new PendingLoadAccumulator();
      const f = base(n);
      values(n, best, level).forEach((u, i) => {
        if (u > 0) pending.reserve((f.fleet.pods[i] as Pod).key, `fixture-${i}`, u);
      });
      return { ...f, ...ranked(f.fleet.pods, best), deps: sloDeps(pending, 1000), pending };
    },
    tight: () => sloDeps(new PendingLoadAccumulator(), 1),
  };
}

/** Every declared signal's builder. */
export const SIGNAL_FIXTURES: Readonly<Record<RankSignal, SignalFixtureBuilder>> = {
  "fewest-inflight": {
    build(n, best) {
      const f = base(n);
      preload(
        f.fleet.load,
        f.fleet.pods,
        values(n, best, (isBest, j) => (isBest ? 0 : 2 + j)),
      );
      return { ...f, ...ranked(f.fleet.pods, best) };
    },
  },
  "fewest-inflight-of-two-sampled": {
    maxPods: 2,
    build(n, best) {
      const f = base(n);
      preload(
        f.fleet.load,
        f.fleet.pods,
        values(n, best, (isBest) => (isBest ? 0 : 3)),
      );
      return { ...f, ...ranked(f.fleet.pods, best) };
    },
  },
  "lowest-kv-cache": byMetric((v) => ({ kvCacheUsage: v })),
  "lowest-gpu-cache": byMetric((v) => ({ gpuCacheUsage: v })),
  "fewest-waiting": byMetric((v) => ({ requestsWaiting: Math.round(v * 10) })),
  "lowest-utilization": byMetric((v) => ({ utilization: v })),
  "least-busy-time": byObservation(
    (v) => ({ durationMs: v }),
    (isBest, j) => (isBest ? 100 : 1000 + 100 * j),
    2,
  ),
  "least-expected-latency": byObservation(
    (v) => ({ ttftMs: v, tpotMs: v / 10 }),
    (isBest, j) => (isBest ? 10 : 100 + 10 * j),
  ),
  "most-spare-throughput": byObservation(
    (v) => ({ outputTokensPerSecond: v }),
    (isBest, j) => (isBest ? 1000 : 500 - 10 * j),
  ),
  "most-prefix-blocks": {
    build(n, best, env) {
      const f = base(n);
      const prefix = makePrefixFixture(env.hasher);
      const keys = env.prompt.keys(prefix.deps.approximateBlockSize);
      if (keys.length < 4) throw new Error("the contract prompt must span at least 4 blocks");
      // The best pod holds the whole prompt; the others shorter and shorter leading runs (at least one block).
      values(n, best, (isBest, j) => (isBest ? keys.length : Math.max(1, 3 - j))).forEach((blocks, i) =>
        prefix.approximate.add((f.fleet.pods[i] as Pod).key, keys.slice(0, blocks)),
      );
      return { ...f, ...ranked(f.fleet.pods, best), deps: { now: () => 0, prefix: prefix.deps } };
    },
  },
  "session-affinity": {
    build(n, best) {
      const f = base(n);
      const pod = f.fleet.pods[best] as Pod;
      return {
        ...f,
        best: pod,
        headers: { [SESSION_ID_HEADER]: Buffer.from(pod.address).toString("base64") },
      };
    },
  },
  "active-lora-adapter": {
    build(n, best) {
      const f = base(n, {}, [ADAPTER]);
      const lora = (running: boolean) => ({ running: running ? [ADAPTER] : [], waiting: [], maxLora: 1 });
      const metrics = byPod(
        f.fleet.pods,
        f.fleet.pods.map((_, i) => makeMetrics({ lora: lora(i === best) })),
      );
      return { ...f, best: f.fleet.pods[best], metrics, request: { ...f.request, model: ADAPTER } };
    },
  },
  random: {
    build: (n) => base(n),
  },
  "least-pending-load": byPendingLoad((isBest, j) => (isBest ? 0.1 : 0.3 + 0.1 * j)),
  "most-pending-load-under-cap": byPendingLoad((isBest, j) => (isBest ? 0.6 : 0.4 - 0.05 * j)),
  "vtc-fairness": {
    build(n, best) {
      // A user without tokens belongs on the first pod in key order: put that pod at index `best`.
      const fleet = makeFleet(n);
      const pods = fleet.pods.map((_, i) => fleet.pods[(i - best + n) % n] as Pod);
      return {
        ...base(n, { fleet: { ...fleet, pods } }),
        best: pods[best],
        // pod-1, next in key order, is where the user goes when pod-0 is gone.
        runnerUp: pods[(best + 1) % n],
        headers: { [USER_HEADER]: "alice" },
      };
    },
  },
};
