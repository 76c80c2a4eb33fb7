/**
 * A pod's prefill throughput (prompt tokens the engine computes per second), from the sources kvroute has: a GPU
 * profile, or the engine's own counters sampled over time. Used by `prefix-affinity` to turn an acceptable TTFT
 * penalty into a backlog gate, and by `kvroute calibrate` to suggest that gate's throughput.
 *
 * @module
 */
import type { EngineMetrics } from "./engine-metrics";
import type { GpuProfile } from "./gpu-profiles";

/** One reading of a pod's computed-prompt-token counter. */
export interface PrefillSample {
  /** When it was read, ms (any monotonic clock, the same for every sample of a pod). */
  readonly atMs: number;
  /** Prompt tokens the engine computed since it started (see {@link computedPromptTokens}). */
  readonly tokens: number;
}

/**
 * Prompt tokens the engine actually computed since it started: `prompt_tokens_total − prefix_cache_hits_total`
 * (vLLM counts every prompt token in the first and the cached ones in the second, both in tokens), so a pod
 * serving warm prompts is not credited with prefill it skipped. Undefined when the engine does not report prompt
 * tokens; missing cache hits count 0 (no prefix cache: every token is computed).
 */
export function computedPromptTokens(m: EngineMetrics): number | undefined {
  const prompt = m.promptTokensTotal;
  if (prompt === undefined || !Number.isFinite(prompt)) return undefined;
  const hits = m.prefixCacheHitsTotal;
  const cached = hits !== undefined && Number.isFinite(hits) ? hits : 0;
  return Math.max(0, prompt - cached);
}

/**
 * Tokens per second between two samples; undefined when they are not in order or the counter went back (the
 * engine restarted: its counters started again from 0, so the difference means nothing).
 */
export function prefillRate(before: PrefillSample, after: PrefillSample): number | undefined {
  const dt = after.atMs - before.atMs;
  const dn = after.tokens - before.tokens;
  if (!(dt > 0) || dn < 0) return undefined;
  return (dn * 1000) / dt;
}

/**
 * The profile's best prompt-token rate: over the input lengths of its smallest output length (the closest it has
 * to prefill only), max of `input tokens × max RPS`. An upper bound (the profiled requests also decode), which is
 * what a gate on the pod's peak throughput wants. Undefined when the profile has no usable cell.
 */
export function profilePrefillThroughput(p: GpuProfile): number | undefined {
  const inputs = p.indexes[1];
  const row = p.tputs[0];
  if (inputs === undefined || row === undefined) return undefined;
  let best = 0;
  for (let j = 0; j < inputs.length && j < row.length; j++) {
    // `indexes` hold log2 of the token counts (applied on load).
    const rate = 2 ** (inputs[j] as number) * (row[j] as number);
    if (Number.isFinite(rate) && rate > best) best = rate;
  }
  return best > 0 ? best : undefined;
}

/** Shortest span a measured rate is taken over: long enough that one engine step's lump of tokens is noise. */
export const PREFILL_WINDOW_MS = 2000;
/** Most pods a meter remembers; beyond, the one seen first is forgotten (it re-measures if it returns). */
export const PREFILL_METER_MAX_PODS = 10_000;

interface PodMeter {
  anchor: PrefillSample;
  peak: number | undefined;
}

/**
 * The peak prefill throughput of each pod as measured from its counters: the highest rate over any window of at
 * least {@link PREFILL_WINDOW_MS} between two readings. Peak rather than mean, because a pod only shows its
 * capacity while it has a backlog, and the gate wants the capacity; until a pod was busy for a whole window the
 * figure is low, which makes the gate leave early (the safe side).
 */
export class PrefillMeter {
  private readonly pods = new Map<string, PodMeter>();

  /** Feed a reading of `podKey`'s metrics (ignored when it reports no prompt tokens). */
  observe(podKey: string, m: EngineMetrics): void {
    const tokens = computedPromptTokens(m);
    if (tokens === undefined) return;
    const sample = { atMs: m.scrapedAtMs, tokens };
    const pod = this.pods.get(podKey);
    if (pod === undefined) {
      if (this.pods.size >= PREFILL_METER_MAX_PODS) {
        const oldest = this.pods.keys().next();
        if (!oldest.done) this.pods.delete(oldest.value);
      }
      this.pods.set(podKey, { anchor: sample, peak: undefined });
      return;
    }
    if (sample.tokens < pod.anchor.tokens || sample.atMs < pod.anchor.atMs) {
      // Restarted engine (or a clock that went back): start over, forgetting the old peak with the old engine.
      pod.anchor = sample;
      pod.peak = undefined;
      return;
    }
    if (sample.atMs - pod.anchor.atMs < PREFILL_WINDOW_MS) return;
    const rate = prefillRate(pod.anchor, sample);
    if (rate !== undefined && rate > 0 && (pod.peak === undefined || rate > pod.peak)) pod.peak = rate;
    pod.anchor = sample;
  }

  /** The pod's measured peak, tokens/s; undefined before a window with prefill work in it. */
  peak(podKey: string): number | undefined {
    return this.pods.get(podKey)?.peak;
  }
}
