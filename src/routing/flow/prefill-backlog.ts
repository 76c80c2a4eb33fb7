/**
 * The prefill delay kvroute has queued on each pod: the uncached prompt tokens of the requests it sent there and the
 * pod has not prefilled yet ({@link UncachedInflight}'s fluid model), divided by the pod's prefill throughput. A
 * request dispatched to a pod waits about that long before its own prefill starts: the engine prefills admitted
 * requests in order, in chunks shared with every earlier one, whether they wait in its queue or already "run".
 * This is the signal that bounds a queued interactive request's TTFT; the engine's waiting queue and running seats
 * can both look fine while 30 running requests still have most of their prompts to prefill.
 *
 * Throughput: the peak of the pod's computed-prompt-token counter ({@link PrefillMeter}) measured only over scrapes
 * that showed requests waiting at the engine, i.e. while the pod had more work than it could take, so the figure is
 * its capacity. A rate measured while idle is the offered load, not the capacity: gating on it would hold the pod to
 * that load for good (the gate itself would keep the pod from ever showing more). Until such a window (or after an
 * engine restart, whose counters start again) the throughput is unknown and the signal is off for the pod.
 *
 * Each pick holds its share synchronously (a dispatch burst sees its own backlog grow) and gives it back when its
 * first token arrives (the pod has prefilled it) or its request ends; bounded by the requests in flight (see
 * {@link UncachedInflight}), and the meter by its pod cap.
 *
 * @module
 */
import type { EngineMetrics } from "../../cluster";
import { PrefillMeter } from "../../cluster";
import { createUncachedInflight } from "../uncached-inflight";

/** A pod's prefill backlog and throughput, for the saturation check. */
export interface PrefillBacklog {
  /** Feed a fresh scrape of `podKey` (only scrapes showing waiting requests teach the throughput). */
  observe(podKey: string, m: EngineMetrics): void;
  /** The pod's capacity in prompt tokens/s; undefined while unknown. */
  throughput(podKey: string): number | undefined;
  /**
   * The queued prefill delay on the pod now, ms; undefined while its throughput is unknown. `waiting` (fresh
   * metrics) corrects the drain model: the newest `waiting` shares count in full.
   */
  delayMs(podKey: string, waiting: number | undefined): number | undefined;
  /** Hold `tokens` of prefill on `podKey` from now until the returned share is released (or moved). */
  hold(podKey: string, tokens: number): HeldPrefill;
}

/** One pick's share of a pod's prefill backlog. */
export interface HeldPrefill {
  /** Give it back (only the first call has an effect). */
  release(): void;
  /** Carry it, re-queued now, to `podKey` (the pod that served); no-op once released. */
  moveTo(podKey: string): void;
  /**
   * The request's first token arrived: the pod has prefilled it (`uncached-inflight.ts`: it and the shares queued
   * before it stop counting).
   */
  prefilled(): void;
}

/** Create an empty backlog on the monotonic clock `nowMs`. */
export function createPrefillBacklog(nowMs: () => number = () => performance.now()): PrefillBacklog {
  const meter = new PrefillMeter();
  const inflight = createUncachedInflight();
  return {
    observe(podKey, m) {
      if ((m.requestsWaiting ?? 0) > 0) meter.observe(podKey, m);
    },
    throughput: (podKey) => meter.peak(podKey),
    delayMs(podKey, waiting) {
      const rate = meter.peak(podKey);
      if (rate === undefined) return undefined;
      return (inflight.tokens(podKey, nowMs(), waiting) * 1000) / rate;
    },
    hold(podKey, tokens) {
      const held = inflight.reserve(podKey, tokens, nowMs(), meter.peak(podKey));
      return {
        release: () => held.release(),
        moveTo: (to) => held.moveTo(to, tokens, nowMs(), meter.peak(to)),
        prefilled: () => held.prefilled(nowMs()),
      };
    },
  };
}
