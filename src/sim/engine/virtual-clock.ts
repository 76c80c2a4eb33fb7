/**
 * Deterministic clock for tests and fast-forward benchmarks: timers run only inside {@link VirtualClock.advance},
 * in due-time order (ties in creation order), each seeing `now()` equal to its due time.
 *
 * @module
 */
import type { SimClock } from "./types";

interface Timer {
  at: number;
  seq: number;
  fn: () => void;
  live: boolean;
}

export interface VirtualClock extends SimClock {
  /** Move time forward by `ms`, running every timer due up to the new time (including ones they set). */
  advance(ms: number): void;
  /** Run timers until none is pending or `maxMs` of virtual time has passed; returns the elapsed ms. */
  runUntilIdle(maxMs?: number): number;
  /** Pending (uncancelled) timers. */
  pending(): number;
}

export function virtualClock(start = 0): VirtualClock {
  let now = start;
  let seq = 0;
  // A sorted array is enough: an engine keeps at most one step timer pending.
  const timers: Timer[] = [];

  const insert = (t: Timer): void => {
    let i = timers.length;
    while (i > 0) {
      const o = timers[i - 1] as Timer;
      if (o.at < t.at || (o.at === t.at && o.seq < t.seq)) break;
      i--;
    }
    timers.splice(i, 0, t);
  };

  const runDue = (until: number): void => {
    for (;;) {
      const t = timers[0];
      if (t === undefined || t.at > until) break;
      timers.shift();
      if (!t.live) continue;
      t.live = false;
      now = Math.max(now, t.at);
      t.fn();
    }
  };

  return {
    now: () => now,
    setTimer(ms, fn) {
      const t: Timer = { at: now + Math.max(0, ms), seq: seq++, fn, live: true };
      insert(t);
      return {
        cancel() {
          t.live = false;
        },
      };
    },
    advance(ms) {
      const until = now + ms;
      runDue(until);
      now = until;
    },
    runUntilIdle(maxMs = Number.POSITIVE_INFINITY) {
      const begin = now;
      for (;;) {
        while (timers[0] !== undefined && !timers[0].live) timers.shift();
        const t = timers[0];
        if (t === undefined || t.at - begin > maxMs) break;
        runDue(t.at);
      }
      return now - begin;
    },
    pending: () => timers.filter((t) => t.live).length,
  };
}

/** Wall clock for live pods: `performance.now()` and `setTimeout` (unref'd so an idle pod never holds the process). */
export function systemClock(): SimClock {
  return {
    now: () => performance.now(),
    setTimer(ms, fn) {
      const h = setTimeout(fn, ms);
      h.unref();
      return { cancel: () => clearTimeout(h) };
    },
  };
}
