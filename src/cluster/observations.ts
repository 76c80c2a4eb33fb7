/**
 * kvroute's own view of how fast each pod has been serving, measured on the response path (no Prometheus):
 * time to first token, time per output token and output throughput, as exponentially decayed averages.
 *
 * @module
 */

/** What one finished request tells about its pod. All durations in ms, measured from the routing decision. */
export interface RequestSample {
  /** Decision to the first response byte (the first token for streams). */
  readonly firstTokenMs?: number;
  /** Decision to the end of the response. */
  readonly durationMs?: number;
  /** Output tokens, from the response's usage. */
  readonly completionTokens?: number;
  /** Whether the upstream answered 2xx. Failed requests are not latency samples. */
  readonly success: boolean;
}

/** Decayed averages for one pod. */
export interface PodObservation {
  /** Mean time to first token, ms. */
  readonly ttftMs?: number;
  /** Mean time per output token after the first, ms. */
  readonly tpotMs?: number;
  /** Mean output tokens per second of request time. */
  readonly outputTokensPerSecond?: number;
  /** Mean decision-to-end duration of a request, ms (what a busy-time estimate multiplies by in-flight count). */
  readonly durationMs?: number;
  /** Samples folded in so far (saturates; for confidence, not arithmetic). */
  readonly samples: number;
  /** When the last sample arrived (ms, the observations' clock). */
  readonly updatedAtMs: number;
}

/** Per-pod observations. */
export interface Observations {
  record(podKey: string, sample: RequestSample): void;
  get(podKey: string): PodObservation | undefined;
  /** Forget a pod (it left the fleet). */
  delete(podKey: string): void;
  /** Pods with observations. */
  keys(): IterableIterator<string>;
}

/** Options of {@link createObservations}. */
export interface ObservationsOptions {
  /** Clock in ms (monotonic preferred). A clock that steps back is treated as no time passing. */
  readonly now: () => number;
  /**
   * Half-life of a sample's weight, ms: a sample `halfLifeMs` old counts half as much as one that just arrived.
   * Default {@link DEFAULT_HALF_LIFE_MS}. Must be finite and > 0.
   */
  readonly halfLifeMs?: number;
  /** Most pods kept; at the bound the least recently updated is evicted. Default {@link DEFAULT_MAX_PODS}, ≥ 1. */
  readonly maxPods?: number;
}

/** Default half-life of a sample's weight: 30 s, so the last minute or so dominates. */
export const DEFAULT_HALF_LIFE_MS = 30_000;
/** Default bound on pods with observations (memory stays bounded whatever discovery does). */
export const DEFAULT_MAX_PODS = 10_000;
/** `PodObservation.samples` stops counting here. */
export const SAMPLES_CAP = 1_000_000_000;

/** Placeholder view of a state not yet folded into (never handed out). */
const EMPTY: PodObservation = Object.freeze({ samples: 0, updatedAtMs: 0 });

/** A decayed weighted mean: `sum / weight`, both decayed by the same factor, so only relative weights matter. */
interface Decayed {
  sum: number;
  weight: number;
}

/** Mutable state of one pod. */
interface PodState {
  updatedAtMs: number;
  samples: number;
  readonly ttft: Decayed;
  readonly tpot: Decayed;
  readonly tps: Decayed;
  readonly duration: Decayed;
  /** Frozen view handed out by `get` (rebuilt on every record, so reads allocate nothing). */
  view: PodObservation;
}

/** The measurements one sample yields; undefined where the sample does not support that figure. */
interface Measured {
  readonly ttftMs: number | undefined;
  readonly tpotMs: number | undefined;
  readonly tps: number | undefined;
  readonly durationMs: number | undefined;
}

const nonNegative = (x: number | undefined): x is number => x !== undefined && Number.isFinite(x) && x >= 0;

/**
 * What a sample measures. Only `success` samples count, and only finite non-negative inputs:
 * - `ttftMs = firstTokenMs`;
 * - `tpotMs = (durationMs − firstTokenMs) / (completionTokens − 1)` when `completionTokens ≥ 2` and
 *   `durationMs ≥ firstTokenMs` (the first token's time is TTFT, the rest are spread over the others);
 * - `tps = completionTokens / (durationMs / 1000)` when `durationMs > 0`;
 * - `durationMs` as given (the whole request, for busy-time estimates).
 * Returns undefined when nothing is measurable.
 */
function measure(sample: RequestSample): Measured | undefined {
  if (!sample.success) return undefined;
  const first = nonNegative(sample.firstTokenMs) ? sample.firstTokenMs : undefined;
  const duration = nonNegative(sample.durationMs) ? sample.durationMs : undefined;
  const tokens = nonNegative(sample.completionTokens) ? sample.completionTokens : undefined;
  const tpotMs =
    first !== undefined && duration !== undefined && tokens !== undefined && tokens >= 2 && duration >= first
      ? (duration - first) / (tokens - 1)
      : undefined;
  const tps =
    duration !== undefined && duration > 0 && tokens !== undefined ? tokens / (duration / 1000) : undefined;
  if (first === undefined && duration === undefined) return undefined;
  return { ttftMs: first, tpotMs, tps, durationMs: duration };
}

/** Decay `d` by `factor`, then fold `x` in with weight 1 (when given). */
function fold(d: Decayed, factor: number, x: number | undefined): void {
  d.sum *= factor;
  d.weight *= factor;
  if (x !== undefined) {
    d.sum += x;
    d.weight += 1;
  }
}

/** The mean, or undefined before the first value (a weight decayed below ~1e-300 still has a finite mean). */
const mean = (d: Decayed): number | undefined => (d.weight > 0 ? d.sum / d.weight : undefined);

/** Freeze the current means of `s`; fields without a value are left out (never 0). */
function viewOf(s: PodState): PodObservation {
  const ttftMs = mean(s.ttft);
  const tpotMs = mean(s.tpot);
  const outputTokensPerSecond = mean(s.tps);
  const durationMs = mean(s.duration);
  return Object.freeze({
    ...(ttftMs !== undefined ? { ttftMs } : {}),
    ...(tpotMs !== undefined ? { tpotMs } : {}),
    ...(outputTokensPerSecond !== undefined ? { outputTokensPerSecond } : {}),
    ...(durationMs !== undefined ? { durationMs } : {}),
    samples: s.samples,
    updatedAtMs: s.updatedAtMs,
  });
}

/**
 * Create per-pod observations: exponentially decayed means with a time-based half-life. When a sample arrives
 * `Δt` ms after the pod's previous one, the old weight is multiplied by `2^(−Δt / halfLifeMs)` before the new
 * sample is added with weight 1. So recent behaviour dominates, and after an idle spell the first new sample
 * outweighs the old figures. Between samples the means do not move (there is nothing new to average in).
 *
 * Fed by the caller from `Pick.release` outcomes; read by routing through `get`.
 *
 * @throws Error when `halfLifeMs` is not finite and > 0, or `maxPods` is not an integer ≥ 1.
 * @example
 * const obs = createObservations({ now: () => performance.now() });
 * obs.record("default/pod-0", { success: true, firstTokenMs: 120, durationMs: 1120, completionTokens: 101 });
 * obs.get("default/pod-0"); // { ttftMs: 120, tpotMs: 10, outputTokensPerSecond: ≈90.2, durationMs: 1120, … }
 */
export function createObservations(options: ObservationsOptions): Observations {
  const { now } = options;
  const halfLifeMs = options.halfLifeMs ?? DEFAULT_HALF_LIFE_MS;
  const maxPods = options.maxPods ?? DEFAULT_MAX_PODS;
  if (!Number.isFinite(halfLifeMs) || halfLifeMs <= 0) {
    throw new Error(`observations halfLifeMs ${halfLifeMs} must be finite and > 0`);
  }
  if (!Number.isInteger(maxPods) || maxPods < 1) {
    throw new Error(`observations maxPods ${maxPods} must be an integer >= 1`);
  }
  // Insertion order is update order: a record re-inserts its pod at the end, eviction takes the first key.
  const pods = new Map<string, PodState>();

  return {
    record(podKey, sample) {
      const m = measure(sample);
      if (!m) return;
      const t = now();
      let s = pods.get(podKey);
      if (s) {
        pods.delete(podKey);
      } else {
        if (pods.size >= maxPods) {
          const oldest = pods.keys().next();
          if (!oldest.done) pods.delete(oldest.value);
        }
        const zero = (): Decayed => ({ sum: 0, weight: 0 });
        s = {
          updatedAtMs: t,
          samples: 0,
          ttft: zero(),
          tpot: zero(),
          tps: zero(),
          duration: zero(),
          view: EMPTY,
        };
      }
      const factor = Math.pow(2, -Math.max(0, t - s.updatedAtMs) / halfLifeMs);
      fold(s.ttft, factor, m.ttftMs);
      fold(s.tpot, factor, m.tpotMs);
      fold(s.tps, factor, m.tps);
      fold(s.duration, factor, m.durationMs);
      s.updatedAtMs = Math.max(s.updatedAtMs, t);
      s.samples = Math.min(SAMPLES_CAP, s.samples + 1);
      s.view = viewOf(s);
      pods.set(podKey, s);
    },
    get: (podKey) => pods.get(podKey)?.view,
    delete(podKey) {
      pods.delete(podKey);
    },
    keys: () => pods.keys(),
  };
}
