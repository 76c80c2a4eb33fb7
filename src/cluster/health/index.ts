/**
 * Passive health: outlier detection over request outcomes and scrape reachability, applied to the candidates of
 * every routing decision.
 *
 * @module
 */
export { createOutlierDetector } from "./outlier-detector";
export type {
  HealthGate,
  HealthTicket,
  OutlierDetector,
  OutlierDetectorOptions,
  OutlierObserver,
  OutlierOptions,
  PodHealthDetails,
} from "./outlier-detector";
export { maxEjectable } from "./ejection-cap";
export { isReachabilityCause } from "./verdicts";
export type {
  EjectionCause,
  EjectionTrigger,
  RequestFailure,
  RequestVerdict,
  ScrapeVerdict,
} from "./verdicts";
