/**
 * Where a decision's phases are marked for tracing: tokenizing the prompt, waiting in the headroom queue, scoring
 * and picking. Handed in only for a traced request (`RouteInput.phases`); the untraced path passes nothing and marks
 * nothing. The marks' clock is the caller's.
 *
 * @module
 */

/** A decision phase's start or end. */
export type RoutePhase =
  "prompt-start" | "prompt-end" | "queue-start" | "queue-end" | "pick-start" | "pick-end";

/** Receives one decision's marks. It may not throw. */
export interface RoutePhases {
  /** `phase` starts or ends now; a phase marked again (a later try from the queue) keeps the latest. */
  mark(phase: RoutePhase): void;
}
