/**
 * The gate of `prefix-affinity`: how much look-ahead prefill backlog (uncached prompt tokens) a pod may carry and
 * still keep a prompt on its cache. `τ = prefill throughput × acceptable TTFT penalty`: a backlog of τ tokens
 * delays this prompt's first token by about the penalty.
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
   * τ in tokens for `pod` serving `model`. Without any throughput it is relative: the least look-ahead backlog
   * among the candidates (`minLookAhead`) plus one cold prefill of this prompt (`promptTokens`), so a prompt
   * stays on its cache unless the wait there exceeds recomputing it on the least busy pod.
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
      const t = throughput(model, pod);
      if (t === undefined) return minLookAhead + promptTokens;
      return t.tokensPerSecond * params.ttftPenaltySeconds;
    },
  };
}
