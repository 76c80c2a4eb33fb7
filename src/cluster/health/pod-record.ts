/**
 * One pod's passive-health record and the state it is in. The detector owns the records; this file holds the
 * shape and the pure timing rules, so they read in one place.
 *
 * States (Envoy's outlier detection, plus an explicit half-open step):
 * - `healthy`: routable; failures are counted.
 * - `ejected`: not routable until `untilMs`.
 * - `probing`: the backoff is over; routable for at most {@link PROBE_TRIALS} trial request(s) at a time. The
 *   first trial that succeeds (or, when the pod was ejected for being unreachable, the first scrape that reaches
 *   it) returns it to `healthy`; a trial that fails, or a scrape that cannot reach it, ejects it again for longer.
 *
 * @module
 */
import type { EjectionCause, EjectionTrigger } from "./verdicts";
import type { FailureWindow } from "./failure-window";

/** Trial requests a probing pod may have in flight at once. */
export const PROBE_TRIALS = 1;

/** A pod's health state. */
export type HealthState =
  | { readonly t: "healthy" }
  | {
      readonly t: "ejected";
      readonly untilMs: number;
      readonly trigger: EjectionTrigger;
      readonly cause: EjectionCause;
    }
  | {
      readonly t: "probing";
      readonly trigger: EjectionTrigger;
      readonly cause: EjectionCause;
      /** Trial requests routed while probing and not yet finished. */
      trials: number;
    };

/** What the detector keeps per pod. Created at the pod's first reported signal; dropped when the pod leaves. */
export interface PodRecord {
  /** The pod's identity when the record was made ({@link podIdentity}); a new identity starts a new record. */
  readonly identity: string;
  /**
   * Bumped on every ejection and every return: an outcome of a request routed under an earlier generation
   * describes the pod as it was then and is ignored.
   */
  generation: number;
  state: HealthState;
  /** Request failures since the last request success. */
  consecutiveFailures: number;
  /** Scrapes that could not reach the pod since the last one that did. */
  consecutiveUnreachableScrapes: number;
  /** The backoff multiplier: ejections not yet forgiven (see {@link nextEjection}). */
  ejections: number;
  /** Ejections since the record was made (for `/debug/state`; never forgiven). */
  totalEjections: number;
  /** When the pod last became healthy (or the record was made), ms. */
  healthySinceMs: number;
  lastEjection:
    { readonly trigger: EjectionTrigger; readonly cause: EjectionCause; readonly atMs: number } | undefined;
  readonly window: FailureWindow;
}

/** Backoff settings. */
export interface BackoffOptions {
  /** First ejection's length, ms (> 0). The n-th consecutive ejection lasts `base × n`. */
  readonly baseEjectionMs: number;
  /** Cap on one ejection's length, ms; also the time of good health that forgives one past ejection. */
  readonly maxEjectionMs: number;
}

/**
 * The multiplier and length of the ejection about to start at `nowMs`. A pod that has been healthy has one past
 * ejection forgiven for each full `maxEjectionMs` of health (Envoy forgives one per interval), so a pod that
 * flaps keeps its longer backoff while one that failed once an hour ago starts again from `base`. A re-ejection
 * from `probing` forgives nothing.
 */
export function nextEjection(
  record: Pick<PodRecord, "ejections" | "healthySinceMs" | "state">,
  nowMs: number,
  o: BackoffOptions,
): { readonly multiplier: number; readonly durationMs: number } {
  const forgiven =
    record.state.t === "healthy"
      ? Math.floor(Math.max(0, nowMs - record.healthySinceMs) / o.maxEjectionMs)
      : 0;
  const multiplier = Math.max(0, record.ejections - forgiven) + 1;
  return { multiplier, durationMs: Math.min(o.baseEjectionMs * multiplier, o.maxEjectionMs) };
}
