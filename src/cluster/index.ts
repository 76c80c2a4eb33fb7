/**
 * What other areas may use of `src/cluster`: import it from here, never from a file inside.
 *
 * @module
 */
export { createClusterStore, podsForModel, promptContext } from "./cluster-state";
export type { ClusterSnapshot, ClusterStore } from "./cluster-state";
export { loadKubeConfig, startKubernetesDiscovery } from "./discovery/kubernetes";
export { watchEndpointsFile } from "./discovery/static-file";
export type { EngineMetrics, EngineMetricsView, LoraState } from "./engine-metrics";
// The GPU profile model and the pending-load accounting over it (used by the SLO strategies and the Redis store).
export * from "./gpu-profiles";
export { createOutlierDetector, isReachabilityCause } from "./health";
export type { HealthGate, RequestVerdict, ScrapeVerdict } from "./health";
export { createLoadTracker } from "./load-tracker";
export type { LoadTracker, PodLoad, ReleaseLoad } from "./load-tracker";
export { createEngineMetricsStore, parseProblemCounts, startScraper, startScraperThread } from "./metrics";
export type { EngineMetricsStore, ScrapeResult, ScraperOptions } from "./metrics";
export type { AutoHints, ModelConfig, ModelConfigProfile } from "./model-config";
export { createObservations } from "./observations";
export type { Observations, PodObservation } from "./observations";
export * from "./pending-load";
export { endpointName, podIdentity } from "./pod";
export type { Pod } from "./pod";
