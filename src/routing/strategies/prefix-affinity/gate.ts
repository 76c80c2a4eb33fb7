/**
 * The gate of `prefix-affinity`: how much look-ahead prefill backlog (uncached prompt tokens) a pod may carry and
 * still keep a prompt on its cache. Relative to the best alternative: `τ = least look-ahead backlog among the
 * candidates + min(T, prefill throughput × acceptable TTFT penalty)`, `T` the prompt's tokens. Leaving the cache
 * makes the fleet recompute up to `T` tokens that later prompts queue behind, so a prompt waits at most that much
 * longer than on the least busy pod, and never more than the penalty one accepts.
 *
 * @module
 */
import type { EngineMetrics, Pod } from "../../../cluster";
import { PrefillMeter, profilePrefillThroughput } from "../../../cluster";
import type { SloDeps } from "../../framework";

/** What the gate is computed from (the strategy's params). */
export interface GateParams {
  readonly ttftPenaltySeconds: number;
  /** Per model, tokens/s (from configuration). */
  readonly prefillTokensPerSecond: Readonly<Record<string, number>>;
}

/** Where a throughput came from (for tests and docs). */
export type ThroughputSource = "flag" | "gpu-profile" | "measured";

/** A pod's gate. */
export interface PrefillGate {
  /** Feed a fresh metrics reading of a pod (the measured rate). */
  observe(podKey: string, m: EngineMetrics): void;
  /** The pod's prefill throughput for `model` and where it came from; undefined when no source has one. */
  throughput(
    model: string,
    pod: Pod,
  ): { readonly tokensPerSecond: number; readonly source: ThroughputSource } | undefined;
  /**
   * τ in tokens for `pod` serving `model`: `minLookAhead` (the least look-ahead backlog among the candidates)
   * plus one cold prefill of this prompt (`promptTokens`), capped at throughput × penalty when a throughput is
   * known.
   */
  tokens(model: string, pod: Pod, minLookAhead: number, promptTokens: number): number;
}

/** Create the gate; `slo` (GPU profiles) is optional. */
export function createPrefillGate(params: GateParams, slo: SloDeps | undefined): PrefillGate {
  const meter = new PrefillMeter();
  const flags = new Map(Object.entries(params.prefillTokensPerSecond));
  const throughput: PrefillGate["throughput"] = (model, pod) => {
    const flag = flags.get(model);
    if (flag !== undefined) return { tokensPerSecond: flag, source: "flag" };
    const profile = slo?.profileFor(model, pod);
    const profiled = profile === undefined ? undefined : profilePrefillThroughput(profile);
    if (profiled !== undefined) return { tokensPerSecond: profiled, source: "gpu-profile" };
    const measured = meter.peak(pod.key);
    if (measured !== undefined) return { tokensPerSecond: measured, source: "measured" };
    return undefined;
  };
  return {
    observe: (podKey, m) => meter.observe(podKey, m),
    throughput,
    tokens(model, pod, minLookAhead, promptTokens) {
      // Relative to the best alternative: leaving costs the fleet a recompute of up to the whole prompt, so a
      // prompt stays while its wait there exceeds the least busy pod's by no more than that, and never by more
      // than the accepted penalty. An absolute gate (τ alone) keeps prompts on a pod a whole penalty behind an
      // idle one (the TTFT tail at warm-up) and sends every prompt off its cache when all pods are equally
      // backed up (lost hits, more work, under overload).
      const t = throughput(model, pod);
      const extra =
        t === undefined
          ? promptTokens
          : Math.min(promptTokens, t.tokensPerSecond * params.ttftPenaltySeconds);
      return minLookAhead + extra;
    },
  };
}
