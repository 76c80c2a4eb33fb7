/**
 * Passive health: outlier detection over what kvroute already sees — how routed requests ended and whether the
 * metrics scraper reaches each pod. A pod that fails `consecutiveFailures` requests in a row, or whose failures
 * reach `failureRatio` of at least `minRequests` requests within `windowMs`, or that `consecutiveFailures` scrapes
 * in a row cannot reach, is ejected for a backoff (`base × n`, capped), then probed (see `pod-record.ts`).
 *
 * Routing asks {@link OutlierDetector.routable} for each decision, before any strategy runs, so every strategy and
 * every fallback sees only routable pods. Per decision this costs one map lookup per candidate.
 *
 * Bounds: one record per pod of the current fleet (records of departed pods, and of pods whose identity changed,
 * are dropped on every fleet change); a record's window is a fixed ring. At the ejection bound
 * (`maxEjectedPercent`, see `ejection-cap.ts`) a pod that trips a trigger stays in and the refusal is counted.
 * When every candidate of a decision is out, the decision uses them all (panic, as Envoy's panic threshold), and
 * that is counted.
 *
 * @module
 */
import type { ClusterStore } from "../cluster-state";
import type { Pod } from "../pod";
import { podIdentity } from "../pod";
import { ejectionAllowed } from "./ejection-cap";
import { createFailureWindow } from "./failure-window";
import { nextEjection, PROBE_TRIALS } from "./pod-record";
import type { BackoffOptions, HealthState, PodRecord } from "./pod-record";
import type { EjectionCause, EjectionTrigger, RequestVerdict, ScrapeVerdict } from "./verdicts";
import { isReachabilityCause } from "./verdicts";

/** The detector's thresholds (from `Config`). */
export interface OutlierOptions extends BackoffOptions {
  /** Failures in a row that eject (requests, or unreachable scrapes, each counted apart); 0 turns this off. */
  readonly consecutiveFailures: number;
  /** Share of failed requests in the window that ejects, in (0, 1]; 0 turns this off. */
  readonly failureRatio: number;
  /** Requests the window must hold before the ratio is judged (≥ 1). */
  readonly minRequests: number;
  /** Length of the ratio's sliding window, ms (> 0). */
  readonly windowMs: number;
  /** Most of a model's ready pods out at once, percent (0..100; 0 = never eject). */
  readonly maxEjectedPercent: number;
}

/** Hooks for metrics and logs. Called synchronously; they must not throw. */
export interface OutlierObserver {
  onEjected?(pod: Pod, trigger: EjectionTrigger, cause: EjectionCause, durationMs: number): void;
  /** A trigger fired but the ejection bound kept the pod in. */
  onEjectionRefused?(pod: Pod, trigger: EjectionTrigger, cause: EjectionCause): void;
  /** A probing pod's trial request or scrape decided: `success` returns it, `failure` ejects it again. */
  onProbe?(pod: Pod, result: "success" | "failure", via: "request" | "scrape"): void;
  /** A decision found every candidate out and used them all. */
  onPanic?(): void;
}

/** Options of {@link createOutlierDetector}. */
export interface OutlierDetectorOptions extends OutlierOptions {
  readonly cluster: ClusterStore;
  /** Monotonic clock, ms. */
  readonly now: () => number;
  readonly observer?: OutlierObserver;
}

/** Handed out with each routed request and given back with its outcome. */
export interface HealthTicket {
  readonly podKey: string;
  readonly generation: number;
  /** The request is a probing pod's trial. */
  readonly trial: boolean;
}

/** `/debug/state` facts of one pod. */
export interface PodHealthDetails {
  readonly state: HealthState["t"];
  readonly consecutiveFailures: number;
  readonly consecutiveUnreachableScrapes: number;
  /** Ms until the ejection ends (while `ejected`), else null. */
  readonly ejectedForMs: number | null;
  /** The current backoff multiplier and the ejections since the pod was first seen. */
  readonly ejectionMultiplier: number;
  readonly ejections: number;
  readonly lastEjection: { readonly trigger: string; readonly cause: string; readonly agoMs: number } | null;
  readonly window: { readonly requests: number; readonly failures: number };
}

/** What routing uses: filter the candidates, and report what became of each pick. */
export interface HealthGate {
  /**
   * The pods among `pods` (one model's ready pods) that may take a request now. Returns `pods` itself when all may;
   * when none may, also `pods` (panic, counted).
   */
  routable(pods: readonly Pod[]): readonly Pod[];
  /** A request was just routed to `pod`: a probing pod's trial slot is taken. Give the ticket back to `report`. */
  routed(pod: Pod): HealthTicket;
  /**
   * True when kvroute holds nothing against the pod now: neither ejected nor on probation. Unlike `routable`, never
   * relaxed in panic: it says which pods may be offered as fallback endpoints, where no probe trial is counted.
   */
  healthy(pod: Pod): boolean;
  /** The request of `ticket` ended with `verdict`. Call once per ticket. */
  report(ticket: HealthTicket, verdict: RequestVerdict): void;
}

/** The detector. */
export interface OutlierDetector extends HealthGate {
  /** A scrape of the pod ended. */
  reportScrape(podKey: string, verdict: ScrapeVerdict): void;
  /** Health facts of a pod; null when nothing was ever reported for it (healthy). */
  details(podKey: string): PodHealthDetails | null;
  /** Pods that are out now (ejected or probing), for the gauge. */
  out(): IterableIterator<readonly [podKey: string, state: "ejected" | "probing"]>;
  /** Stop following the fleet. */
  close(): void;
}

/** Create a detector following `cluster`. */
export function createOutlierDetector(o: OutlierDetectorOptions): OutlierDetector {
  const { cluster, now } = o;
  const observer = o.observer ?? {};
  const records = new Map<string, PodRecord>();

  /** The record's state as of `t`: an ejection whose time is up becomes `probing`. */
  function current(r: PodRecord, t: number): HealthState {
    if (r.state.t === "ejected" && t >= r.state.untilMs) {
      r.state = { t: "probing", trigger: r.state.trigger, cause: r.state.cause, trials: 0 };
    }
    return r.state;
  }

  const isOut = (key: string): boolean => {
    const r = records.get(key);
    return r !== undefined && current(r, now()).t !== "healthy";
  };

  function admits(pod: Pod, t: number): boolean {
    const r = records.get(pod.key);
    if (r === undefined) return true;
    const s = current(r, t);
    return s.t === "healthy" || (s.t === "probing" && s.trials < PROBE_TRIALS);
  }

  /** The record of a pod of the current fleet (made on first use); undefined for a pod not in the fleet. */
  function recordOf(podKey: string): { record: PodRecord; pod: Pod } | undefined {
    const pod = cluster.snapshot().pods.get(podKey);
    if (pod === undefined) return undefined;
    let record = records.get(podKey);
    if (record === undefined) {
      record = {
        identity: podIdentity(pod),
        generation: 0,
        state: { t: "healthy" },
        consecutiveFailures: 0,
        consecutiveUnreachableScrapes: 0,
        ejections: 0,
        totalEjections: 0,
        healthySinceMs: now(),
        lastEjection: undefined,
        window: createFailureWindow(o.windowMs),
      };
      records.set(podKey, record);
    }
    return { record, pod };
  }

  function eject(r: PodRecord, pod: Pod, trigger: EjectionTrigger, cause: EjectionCause, t: number): void {
    // A pod already out stays out (a probe failure); otherwise the bound decides.
    if (r.state.t === "healthy") {
      const allowed =
        pod.ready && ejectionAllowed(cluster.snapshot(), pod, o.maxEjectedPercent, (key) => isOut(key));
      if (!allowed) {
        observer.onEjectionRefused?.(pod, trigger, cause);
        return;
      }
    }
    const { multiplier, durationMs } = nextEjection(r, t, o);
    r.ejections = multiplier;
    r.totalEjections += 1;
    r.generation += 1;
    r.state = { t: "ejected", untilMs: t + durationMs, trigger, cause };
    r.lastEjection = { trigger, cause, atMs: t };
    r.consecutiveFailures = 0;
    r.consecutiveUnreachableScrapes = 0;
    r.window.reset();
    observer.onEjected?.(pod, trigger, cause, durationMs);
  }

  function restore(r: PodRecord, pod: Pod, via: "request" | "scrape", t: number): void {
    r.generation += 1;
    r.state = { t: "healthy" };
    r.healthySinceMs = t;
    r.consecutiveFailures = 0;
    r.consecutiveUnreachableScrapes = 0;
    r.window.reset();
    observer.onProbe?.(pod, "success", via);
  }

  function onRequestFailure(r: PodRecord, pod: Pod, cause: EjectionCause, t: number): void {
    r.consecutiveFailures += 1;
    r.window.record(t, true);
    if (o.consecutiveFailures > 0 && r.consecutiveFailures >= o.consecutiveFailures) {
      eject(r, pod, "consecutive", cause, t);
      return;
    }
    if (o.failureRatio <= 0) return;
    const { requests, failures } = r.window.totals(t);
    if (requests >= o.minRequests && failures >= o.failureRatio * requests) eject(r, pod, "ratio", cause, t);
  }

  // Records of pods that left, or came back as a different pod (new UID or address), are dropped: the new pod
  // starts healthy, as Envoy treats a new host.
  const unsubscribe = cluster.onChange((snap) => {
    for (const [key, r] of records) {
      const pod = snap.pods.get(key);
      if (pod === undefined || podIdentity(pod) !== r.identity) records.delete(key);
    }
  });

  return {
    healthy: (pod) => !isOut(pod.key),
    routable(pods) {
      if (records.size === 0) return pods;
      const t = now();
      let kept: Pod[] | undefined;
      for (let i = 0; i < pods.length; i++) {
        const pod = pods[i] as Pod;
        const ok = admits(pod, t);
        if (!ok && kept === undefined) kept = pods.slice(0, i);
        else if (ok && kept !== undefined) kept.push(pod);
      }
      if (kept === undefined) return pods;
      if (kept.length === 0 && pods.length > 0) {
        observer.onPanic?.();
        return pods;
      }
      return kept;
    },

    routed(pod) {
      const r = records.get(pod.key);
      if (r === undefined) return { podKey: pod.key, generation: 0, trial: false };
      const s = current(r, now());
      const trial = s.t === "probing";
      if (s.t === "probing") s.trials += 1;
      return { podKey: pod.key, generation: r.generation, trial };
    },

    report(ticket, verdict) {
      if (verdict === "neutral" && !ticket.trial) return;
      const found = recordOf(ticket.podKey);
      if (found === undefined) return;
      const { record: r, pod } = found;
      const t = now();
      const s = current(r, t);
      if (ticket.generation !== r.generation) return;
      if (s.t === "probing") {
        // Only the trials probe: a request routed in panic while the pod was ejected says nothing new.
        if (!ticket.trial) return;
        s.trials = Math.max(0, s.trials - 1);
        if (verdict === "neutral") return;
        if (verdict === "success") {
          restore(r, pod, "request", t);
        } else {
          observer.onProbe?.(pod, "failure", "request");
          eject(r, pod, "probe", verdict, t);
        }
        return;
      }
      if (s.t !== "healthy" || verdict === "neutral") return;
      if (verdict === "success") {
        r.consecutiveFailures = 0;
        r.window.record(t, false);
        return;
      }
      onRequestFailure(r, pod, verdict, t);
    },

    reportScrape(podKey, verdict) {
      if (verdict === "reachable") {
        const r = records.get(podKey);
        if (r === undefined) return;
        r.consecutiveUnreachableScrapes = 0;
        const t = now();
        const s = current(r, t);
        // A scrape proves the server is up, not that it answers requests well: it returns only pods that were
        // ejected for being unreachable.
        if (s.t === "probing" && isReachabilityCause(s.cause)) {
          const pod = cluster.snapshot().pods.get(podKey);
          if (pod) restore(r, pod, "scrape", t);
        }
        return;
      }
      const found = recordOf(podKey);
      if (found === undefined) return;
      const { record: r, pod } = found;
      const t = now();
      const s = current(r, t);
      if (s.t === "probing") {
        observer.onProbe?.(pod, "failure", "scrape");
        eject(r, pod, "probe", "scrape-unreachable", t);
        return;
      }
      if (s.t !== "healthy") return;
      r.consecutiveUnreachableScrapes += 1;
      if (o.consecutiveFailures > 0 && r.consecutiveUnreachableScrapes >= o.consecutiveFailures) {
        eject(r, pod, "consecutive", "scrape-unreachable", t);
      }
    },

    details(podKey) {
      const r = records.get(podKey);
      if (r === undefined) return null;
      const t = now();
      const s = current(r, t);
      const w = r.window.totals(t);
      return {
        state: s.t,
        consecutiveFailures: r.consecutiveFailures,
        consecutiveUnreachableScrapes: r.consecutiveUnreachableScrapes,
        ejectedForMs: s.t === "ejected" ? Math.max(0, Math.round(s.untilMs - t)) : null,
        ejectionMultiplier: r.ejections,
        ejections: r.totalEjections,
        lastEjection:
          r.lastEjection === undefined
            ? null
            : {
                trigger: r.lastEjection.trigger,
                cause: r.lastEjection.cause,
                agoMs: Math.round(t - r.lastEjection.atMs),
              },
        window: { requests: w.requests, failures: w.failures },
      };
    },

    *out() {
      const t = now();
      for (const [key, r] of records) {
        const s = current(r, t);
        if (s.t !== "healthy") yield [key, s.t] as const;
      }
    },

    close: () => {
      unsubscribe();
    },
  };
}
