/**
 * Public surface of routing: what `src/extproc` and `src/main` use. Everything else in this folder is internal.
 *
 * @module
 */
export { createDirector } from "./director";
export type { Director, DirectorObserver, DirectorOptions, RouteInput } from "./director";
export { createStrategyRegistry } from "./registry";
export type { StrategyRegistry, StrategyRegistryOptions } from "./registry";
export type { SchedulerObserver } from "./scheduler";
export { registerBuiltins } from "./strategies";
export { createStrategyLabeler } from "./strategy-label";
export type {
  HeaderView,
  Outcome,
  RouteFinisher,
  Pick,
  PrefixLookup,
  PdStep,
  Release,
  RoutingContext,
  ScoreResult,
  Signal,
  Strategy,
  StrategyDeps,
  StrategyFactory,
} from "./framework";
export type { EndpointScore } from "./endpoint-scores";
export type { PrefixDeps, ResponseSource } from "./framework";
export { createHeadroomQueue } from "./headroom-queue";
export {
  createPdRouter,
  PD_FALLBACK_HEADER,
  PREFILL_TARGET_POD,
  PREFILL_TARGET_POD_IP,
} from "./pd/pd-router";
export type { PdObserver, PdRouter, PdRouteInput, PdSkipReason } from "./pd/pd-router";
export { createPrefillClient } from "./pd/prefill-client";
export type { PrefillClient } from "./pd/prefill-client";
export type { HeadroomQueue } from "./headroom-queue";
export type { RoutePhase, RoutePhases } from "./route-phases";
export { ADMITTED_UNCHANGED } from "./pre-route-hook";
export type { Admitted, PreRouteHook, PreRouteVerdict } from "./pre-route-hook";
export { ANONYMOUS_TENANT, tenantOf } from "./flow/tenant";
export { createFlowController } from "./flow/flow-controller";
export type { FlowControlObserver, FlowController, FlowControllerOptions } from "./flow/flow-controller";
export { parseObjectivePriorities } from "./flow/flow-request";
export { createRunningSeats } from "./flow/running-seats";
export { createPrefillBacklog } from "./flow/prefill-backlog";
export { createPromptTokenCalibration } from "./prompt-token-calibration";
export type { PromptTokenCalibration } from "./prompt-token-calibration";
export type { SaturationResult } from "./flow/saturation";
export type { DropReason } from "./flow/flow-queue-contract";
