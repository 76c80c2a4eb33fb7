/**
 * What a routed pick holds until its request ends: the in-flight slot on the pod, the strategies' per-pod
 * bookkeeping, passive health's ticket. `release` gives all of it back exactly once; `moveTo` carries it to the pod
 * the gateway reports actually served the request (the gateway retried a fallback endpoint), so load, prefix
 * records and health verdicts land where the work went; `firstToken` tells the strategies the pod has prefilled
 * the prompt (the slot stays held: the request still decodes).
 *
 * @module
 */
import type { HealthGate, LoadTracker, Pod, ReleaseLoad } from "../cluster";
import type { FirstToken, MoveReservation, Outcome, Release, RouteFinisher } from "./framework";
import { healthVerdictOf } from "./health-verdict";

/** Hooks a lease calls; each optional and must not throw. */
export interface LeaseObserver {
  /** A strategy's finisher, move or first-token hook threw (a bug in that strategy); the others still ran. */
  onHookError?(strategy: string, hook: "finish" | "move" | "first-token", err: unknown): void;
  /** The lease was released: called exactly once, with the pod it was on then. */
  onRelease?(pod: Pod, outcome: Outcome): void;
}

/** Options of {@link createPickLease}. */
export interface PickLeaseOptions {
  readonly pod: Pod;
  /** The request's prompt-token estimate, reserved with the slot (and again on the pod it moves to). */
  readonly tokens: number;
  readonly load: LoadTracker;
  /** The slot on `pod`, already reserved in the pick's synchronous step. */
  readonly releaseLoad: ReleaseLoad;
  /** Each taking strategy's type and what its `onRouted` returned. */
  readonly finishers: readonly (readonly [type: string, finish: RouteFinisher])[];
  /** Passive health, when on; `ticket` is the pick's (from `health.routed(pod)`). */
  readonly health?: { readonly gate: HealthGate; readonly ticket: ReturnType<HealthGate["routed"]> };
  readonly observer: LeaseObserver;
  /** Called last on release, after everything was given back (e.g. to wake requests waiting for headroom). */
  readonly afterRelease?: () => void;
  /** Called last on a move: the pick's pod has room again (e.g. to wake requests waiting for headroom). */
  readonly afterMove?: () => void;
  /** Called last on the first token: the pod's prefill backlog shrank (e.g. to wake flow control's queue). */
  readonly afterFirstToken?: () => void;
}

/** A pick's release, move and first-token signal. */
export interface PickLease {
  readonly release: Release;
  readonly moveTo: MoveReservation;
  readonly firstToken: FirstToken;
}

/** Create the lease of a pick whose slot on `options.pod` is already reserved. */
export function createPickLease(options: PickLeaseOptions): PickLease {
  const { load, tokens, observer } = options;
  let pod = options.pod;
  let releaseLoad = options.releaseLoad;
  let ticket = options.health?.ticket;
  const gate = options.health?.gate;
  let released = false;
  let firstTokenSeen = false;

  const release: Release = (outcome) => {
    if (released) return;
    released = true;
    releaseLoad();
    if (gate && ticket) gate.report(ticket, healthVerdictOf(outcome));
    for (const [type, finish] of options.finishers) {
      try {
        finish(outcome);
      } catch (err) {
        // One strategy's broken finisher must not skip the others', the observer or the waiters' wake-up.
        observer.onHookError?.(type, "finish", err);
      }
    }
    observer.onRelease?.(pod, outcome);
    options.afterRelease?.();
  };

  const moveTo: MoveReservation = (to) => {
    if (released || to.key === pod.key) return false;
    // Reserve on the serving pod before giving the pick's slot back: the request is in flight throughout.
    const next = load.reserve(to.key, tokens);
    releaseLoad();
    releaseLoad = next;
    if (gate && ticket) {
      // The pick's own attempt is not what answered: nothing to say about that pod (a probation trial ends).
      gate.report(ticket, "neutral");
      ticket = gate.routed(to);
    }
    for (const [type, finish] of options.finishers) {
      try {
        finish.moveTo?.(to);
      } catch (err) {
        observer.onHookError?.(type, "move", err);
      }
    }
    pod = to;
    options.afterMove?.();
    return true;
  };

  const firstToken: FirstToken = () => {
    if (released || firstTokenSeen) return;
    firstTokenSeen = true;
    for (const [type, finish] of options.finishers) {
      try {
        finish.firstToken?.();
      } catch (err) {
        observer.onHookError?.(type, "first-token", err);
      }
    }
    options.afterFirstToken?.();
  };

  return { release, moveTo, firstToken };
}
