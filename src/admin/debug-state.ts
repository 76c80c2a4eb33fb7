/**
 * The `/debug/state` document: the fleet as routing sees it now (pods, models, in-flight work, per-pod facts other
 * runtimes add). The status page's fleet table reads the same document, so the two never disagree.
 *
 * @module
 */
import type { ClusterStore, LoadTracker, PodLoad } from "../cluster";
import { endpointName, pdFacts } from "../cluster";

/** What the document is built from (a part of the admin server's dependencies). */
export interface DebugStateDeps {
  readonly cluster: ClusterStore;
  readonly load: LoadTracker;
  readonly isReady: () => boolean;
  readonly isDraining: () => boolean;
  /** Extra per-pod facts (engine metrics in use, scrape age, observations, prefix indexes, health). */
  readonly podDetails?: (podKey: string) => Record<string, unknown>;
  /** Extra top-level facts (discovery status, …). */
  readonly extraState?: () => Record<string, unknown>;
  /** Registered strategy types and the configured default. */
  readonly routing: { readonly strategies: readonly string[]; readonly defaultStrategy: string };
}

/** One pod of the document: its identity and readiness, in-flight load, then the extra facts. */
export interface DebugPod extends Record<string, unknown> {
  readonly key: string;
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  readonly models: readonly string[];
  readonly ready: boolean;
  readonly inflight: PodLoad;
}

/** The document. */
export interface DebugState extends Record<string, unknown> {
  readonly version: number;
  readonly loaded: boolean;
  readonly ready: boolean;
  readonly draining: boolean;
  readonly routing: DebugStateDeps["routing"];
  readonly models: Record<string, string[]>;
  readonly pods: DebugPod[];
}

/** Build the document now. */
export function debugState(deps: DebugStateDeps): DebugState {
  const snap = deps.cluster.snapshot();
  const pods: DebugPod[] = [...snap.pods.values()].map((p) => ({
    key: p.key,
    name: p.name,
    namespace: p.namespace,
    address: p.address,
    ...(p.dataParallelRank === undefined ? {} : { dataParallelRank: p.dataParallelRank }),
    metricsPort: p.metricsPort,
    models: p.models,
    adapters: p.adapters,
    ready: p.ready,
    engine: p.engine,
    // Prefill/decode role and roleset (`pdRole`, `pdRoleset`), only for a disaggregated pod.
    ...pdFacts(p),
    inflight: deps.load.get(p.key),
    ...deps.podDetails?.(p.key),
  }));
  const models = Object.fromEntries([...snap.models].map(([m, ps]) => [m, ps.map(endpointName)]));
  return {
    version: snap.version,
    loaded: snap.loaded,
    ready: deps.isReady(),
    draining: deps.isDraining(),
    inflightTotal: deps.load.totalRequests(),
    routing: deps.routing,
    ...deps.extraState?.(),
    models,
    pods,
  };
}
