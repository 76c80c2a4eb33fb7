/**
 * The saturation point of the simulated fleet under the overload workload's mix: the request rate past which the
 * pods can no longer keep up, so their waiting queues grow and TTFT climbs with time instead of staying flat. The
 * overload scenario expresses its load as a multiple of it (`--saturation 2`).
 *
 * Measured by a sweep (`--measure-saturation`): the workload run at rising rates, each step a short open-loop run
 * through kvroute without flow control, recording the TTFT p90 and the pods' mean `vllm:num_requests_waiting`
 * (sampled during the run). The knee is the first step where either signal says "queueing": the mean waiting
 * queue per pod reaches {@link KNEE_WAITING} or the TTFT p90 exceeds {@link KNEE_TTFT_RATIO} × the lowest step's.
 * The saturation rate is the step before it (the highest rate served without queueing), so the figure errs low,
 * which makes a "2×" load at least that.
 *
 * @module
 */

/** One step of the sweep. */
export interface SaturationPoint {
  /** Offered requests per second. */
  readonly rate: number;
  readonly ttftP90Ms: number;
  /** Mean `vllm:num_requests_waiting` per pod over the step's samples. */
  readonly meanWaiting: number;
}

/** A mean waiting queue of one request per pod: requests no longer start when they arrive. */
export const KNEE_WAITING = 1;
/** TTFT p90 at twice the unloaded one: waiting has become the larger part of the first token's time. */
export const KNEE_TTFT_RATIO = 2;

/** The first point (by rate) that queues, or undefined when none does. */
export function kneeOf(points: readonly SaturationPoint[]): SaturationPoint | undefined {
  const sorted = [...points].sort((a, b) => a.rate - b.rate);
  const base = sorted[0]?.ttftP90Ms ?? 0;
  return sorted.find((p) => p.meanWaiting >= KNEE_WAITING || p.ttftP90Ms > KNEE_TTFT_RATIO * base);
}

/**
 * The saturation rate the sweep found: the highest rate below the knee. Undefined when the lowest step already
 * queues (sweep started too high) or no step does (too low): the sweep must be rerun with other rates.
 */
export function saturationRateOf(points: readonly SaturationPoint[]): number | undefined {
  const knee = kneeOf(points);
  if (!knee) return undefined;
  const below = points.filter((p) => p.rate < knee.rate);
  return below.length ? Math.max(...below.map((p) => p.rate)) : undefined;
}

/** The value of gauge `vllm:<name>` (any labels, summed) in exposition `text`; 0 when absent. */
export function gaugeSum(text: string, name: string): number {
  let sum = 0;
  const re = new RegExp(`^vllm:${name}(?:\\{[^}]*\\})? (\\S+)$`, "gm");
  for (const m of text.matchAll(re)) sum += Number(m[1]);
  return sum;
}

/**
 * Sample the pods' mean waiting queue every `everyMs` until `stop()`; resolves with the mean over samples. A failed
 * scrape is skipped (a pod busy past its timeout is itself a sign of load, but not a number).
 */
export function sampleWaiting(pods: readonly string[], everyMs: number): { stop(): Promise<number> } {
  const samples: number[] = [];
  let running = true;
  const loop = (async () => {
    while (running) {
      try {
        const texts = await Promise.all(pods.map(async (p) => (await fetch(`http://${p}/metrics`)).text()));
        samples.push(texts.reduce((s, t) => s + gaugeSum(t, "num_requests_waiting"), 0) / pods.length);
      } catch {
        // skipped sample
      }
      await new Promise((resolve) => setTimeout(resolve, everyMs));
    }
  })();
  return {
    async stop() {
      running = false;
      await loop;
      return samples.length ? samples.reduce((s, x) => s + x, 0) / samples.length : 0;
    },
  };
}
