/**
 * How many requests a pod runs at once (its "seats": vLLM's `max_num_seqs`, or fewer when its KV cache is the
 * limit), learned from its scraped metrics. Flow control compares kvroute's own in-flight requests on the pod (the
 * load tracker, reserved in the same synchronous step as the pick) with the seats, so the engine's waiting queue
 * stays short between scrapes: the scraped queue length lags every dispatch by up to a scrape interval, and one
 * stale "free" would otherwise release the whole flow queue onto the pod.
 *
 * Learning: a pod's seats are unknown until a fresh scrape shows it with waiting requests (then its running count is
 * what it can run); from then on they are the highest running count ever seen, waiting or not. The second rule
 * lets a figure learned too low (the KV cache was the limit under long prompts) grow again: flow control lets a
 * pod reach seats + margin in flight, and when the engine runs them all without a queue, the running count it
 * reports raises the seats. An engine restart keeps the figure (its `max_num_seqs` does not change with a restart).
 *
 * @module
 */
import type { EngineMetrics } from "../../cluster";

/** Most pods remembered; beyond, the one learned first is forgotten (it is learned again if it comes back). */
export const RUNNING_SEATS_MAX_PODS = 10_000;

/** Learned running seats per pod. */
export interface RunningSeats {
  /** Feed a fresh scrape of `podKey` (idempotent: the same scrape twice changes nothing). */
  observe(podKey: string, m: EngineMetrics): void;
  /** The pod's seats; undefined while unknown. */
  get(podKey: string): number | undefined;
}

/** Create an empty learner. */
export function createRunningSeats(): RunningSeats {
  const seats = new Map<string, number>();
  return {
    observe(podKey, m) {
      const running = m.requestsRunning;
      if (running === undefined || !Number.isFinite(running) || running <= 0) return;
      const known = seats.get(podKey);
      if (known === undefined) {
        // Only a pod that had to queue shows its limit; an idle pod's running count is just its load.
        if (!((m.requestsWaiting ?? 0) > 0)) return;
        if (seats.size >= RUNNING_SEATS_MAX_PODS) {
          const oldest = seats.keys().next();
          if (!oldest.done) seats.delete(oldest.value);
        }
        seats.set(podKey, Math.floor(running));
      } else if (running > known) seats.set(podKey, Math.floor(running));
    },
    get: (podKey) => seats.get(podKey),
  };
}
