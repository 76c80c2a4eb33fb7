/**
 * kvroute's own count of the work it has sent to each pod and not yet seen finish: in-flight requests and
 * in-flight prompt tokens. This is the signal `least-request` reads, and it is exact for this replica because a
 * slot is reserved in the same synchronous step as the pick and released exactly once.
 *
 * @module
 */

/** Work in flight on one pod. */
export interface PodLoad {
  /** Requests routed to the pod and not yet finished. */
  readonly requests: number;
  /** Sum of the prompt-token estimates of those requests. */
  readonly tokens: number;
}

/** Releases a reservation. Idempotent: the second and later calls do nothing and return false. */
export type ReleaseLoad = () => boolean;

/** Per-pod in-flight accounting. */
export interface LoadTracker {
  /** Reserve one request slot and `tokens` of prompt work on `podKey`. Synchronous, never fails. */
  reserve(podKey: string, tokens: number): ReleaseLoad;
  /** Current load on a pod (zeros when nothing is in flight). */
  get(podKey: string): PodLoad;
  /** Every pod with work in flight. */
  entries(): IterableIterator<[string, PodLoad]>;
  /** Requests in flight across all pods. */
  totalRequests(): number;
}

const ZERO: PodLoad = Object.freeze({ requests: 0, tokens: 0 });

/** Create an empty tracker. Entries are deleted when they drop to zero, so the map is bounded by busy pods. */
export function createLoadTracker(): LoadTracker {
  const loads = new Map<string, { requests: number; tokens: number }>();
  let total = 0;
  return {
    reserve(podKey, tokens) {
      const t = Number.isFinite(tokens) && tokens > 0 ? Math.round(tokens) : 0;
      let e = loads.get(podKey);
      if (!e) loads.set(podKey, (e = { requests: 0, tokens: 0 }));
      e.requests += 1;
      e.tokens += t;
      total += 1;
      let released = false;
      return () => {
        if (released) return false;
        released = true;
        total -= 1;
        const cur = loads.get(podKey);
        if (cur) {
          cur.requests -= 1;
          cur.tokens -= t;
          if (cur.requests <= 0) loads.delete(podKey);
        }
        return true;
      };
    },
    get: (podKey) => loads.get(podKey) ?? ZERO,
    entries: () => loads.entries(),
    totalRequests: () => total,
  };
}
