/**
 * What other areas may use of `src/cluster`: import it from here, never from a file inside.
 *
 * @module
 */
export { createClusterStore, podsForModel, promptContext } from "./cluster-state";
export type { ClusterSnapshot, ClusterStore } from "./cluster-state";
import type * as KubernetesDiscoveryModule from "./discovery/kubernetes";

export type { KubernetesDiscovery, KubernetesDiscoveryOptions } from "./discovery/kubernetes";
/**
 * Kubernetes discovery, loaded when first asked for: `@kubernetes/client-node` takes ~0.5 s of CPU to load, and
 * only Kubernetes mode needs it (standalone processes and every test that builds a server never pay it).
 */
export function loadKubernetesDiscovery(): Promise<typeof KubernetesDiscoveryModule> {
  return import("./discovery/kubernetes/index.js");
}
export { watchEndpointsFile } from "./discovery/static-file";
export type { EngineMetrics, EngineMetricsView, LoraState } from "./engine-metrics";
// The GPU profile model and the pending-load accounting over it (used by the SLO strategies and the Redis store).
export * from "./gpu-profiles";
export { createOutlierDetector, isReachabilityCause } from "./health";
export type { HealthGate, RequestVerdict, ScrapeVerdict } from "./health";
export { createLoadTracker } from "./load-tracker";
export type { LoadTracker, PodLoad, ReleaseLoad } from "./load-tracker";
export {
  createEngineMetricsStore,
  engineMetricsFromText,
  parsePrometheusText,
  parseProblemCounts,
  startScraper,
  startScraperThread,
} from "./metrics";
export type { EngineMetricsStore, ScrapeResult, ScraperOptions } from "./metrics";
export type { AutoHints, ModelConfig, ModelConfigProfile } from "./model-config";
export { createObservations } from "./observations";
export type { Observations, PodObservation } from "./observations";
export * from "./pending-load";
export {
  computedPromptTokens,
  prefillRate,
  profilePrefillThroughput,
  PrefillMeter,
  PREFILL_WINDOW_MS,
} from "./prefill-throughput";
export type { PrefillSample } from "./prefill-throughput";
export { endpointName, podIdentity } from "./pod";
export {
  completeRolesets,
  pdFacts,
  pdPlacement,
  IMPLICIT_ROLESET,
  ROLE_LABEL,
  ROLESET_LABEL,
} from "./pd-roles";
export type { PdPlacement, PdRole, Roleset } from "./pd-roles";
export type { Pod } from "./pod";
