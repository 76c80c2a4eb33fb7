/**
 * A sliding count of request outcomes over the last `windowMs`, for the failure-ratio trigger. The window is cut
 * into a fixed ring of buckets, so recording and totalling cost O(buckets) and memory is constant per pod whatever
 * the request rate. A bucket older than the window is reset the next time its slot comes round.
 *
 * @module
 */

/** Buckets per window: the window's edge is accurate to windowMs / BUCKETS. */
export const WINDOW_BUCKETS = 10;

/** Totals over the window. */
export interface WindowTotals {
  readonly requests: number;
  readonly failures: number;
}

/** Outcomes of one pod over a sliding window. */
export interface FailureWindow {
  /** Count one request ending at `nowMs` (monotonic ms, never decreasing across calls). */
  record(nowMs: number, failed: boolean): void;
  /** Requests and failures that ended within `(nowMs - windowMs, nowMs]` (to bucket precision). */
  totals(nowMs: number): WindowTotals;
  /** Forget everything (the pod was ejected or came back: its history no longer describes it). */
  reset(): void;
}

/** Create an empty window of `windowMs` (> 0). */
export function createFailureWindow(windowMs: number): FailureWindow {
  const widthMs = Math.max(1, windowMs / WINDOW_BUCKETS);
  // Per bucket: the index of the time slice it holds (floor(t / width)), and its counts.
  const slice = new Float64Array(WINDOW_BUCKETS).fill(-1);
  const requests = new Uint32Array(WINDOW_BUCKETS);
  const failures = new Uint32Array(WINDOW_BUCKETS);
  return {
    record(nowMs, failed) {
      const s = Math.floor(nowMs / widthMs);
      const i = ((s % WINDOW_BUCKETS) + WINDOW_BUCKETS) % WINDOW_BUCKETS;
      if (slice[i] !== s) {
        slice[i] = s;
        requests[i] = 0;
        failures[i] = 0;
      }
      requests[i] = (requests[i] ?? 0) + 1;
      if (failed) failures[i] = (failures[i] ?? 0) + 1;
    },
    totals(nowMs) {
      const current = Math.floor(nowMs / widthMs);
      let r = 0;
      let f = 0;
      for (let i = 0; i < WINDOW_BUCKETS; i++) {
        const s = slice[i] ?? -1;
        if (s < 0 || s <= current - WINDOW_BUCKETS || s > current) continue;
        r += requests[i] ?? 0;
        f += failures[i] ?? 0;
      }
      return { requests: r, failures: f };
    },
    reset() {
      slice.fill(-1);
      requests.fill(0);
      failures.fill(0);
    },
  };
}
