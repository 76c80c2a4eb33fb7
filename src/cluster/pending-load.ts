/**
 * The pending-load provider of the SLO family (AIBrix's pod metric `realtime_normalized_pendings`),
 * after AIBrix `PendingLoadProvider` (`pkg/cache/pending_load_provider.go`).
 *
 * By Little's law a pod holds `throughput × latency` requests at its profiled capacity, so one request consumes
 * `1 / ThroughputRPS(sig) / LatencySeconds(sig)` of it, with `sig = GetSignature(outputTokens, inputTokens)` on
 * the pod's GPU profile. A pod's utilization is the sum of the consumptions of its in-flight requests (missing
 * counts as 0); the cap is 1.0 and a pod is eligible for least-load pulling when `util + consumption <= cap`.
 *
 * Differences from AIBrix, deliberate: a zero or negative mean latency is an error (`invalid-latency`) rather
 * than an infinite consumption; the per-pod accumulator is bounded (reservations beyond the bounds are refused,
 * never evicted, so utilization is never under-counted by eviction).
 *
 * @module
 */
import { latencySeconds, lookup, throughputRps } from "./gpu-profiles";
import type { GpuProfile } from "./gpu-profiles";

/** `PendingLoadProvider.Cap()`. */
export const PENDING_LOAD_CAP = 1.0;
/** Default bound on pods tracked by {@link PendingLoadAccumulator}. */
export const DEFAULT_PENDING_MAX_PODS = 4096;
/** Default bound on in-flight requests per pod. */
export const DEFAULT_PENDING_MAX_PER_POD = 4096;

/** Why a consumption could not be computed. */
export type ConsumptionError =
  /** No GPU profile for the pod's model + deployment. */
  | "no-profile"
  /** `GetSignature` failed (bad features or profile indexes). */
  | "signature"
  /** Throughput or latency matrix absent, or signature out of its bounds. */
  | "no-data"
  /** Throughput 0: `ErrorSLOFailureRequest`. */
  | "slo-failure"
  /** Mean latency not positive. */
  | "invalid-latency";

/** Result of {@link requestConsumption}. */
export type ConsumptionResult = { ok: true; value: number } | { ok: false; error: ConsumptionError };

/**
 * `GetConsumption`: the share of the pod's capacity one request takes. Features are
 * `[outputTokens, inputTokens]` (`RoutingContext.Features()`: predicted output, then tiktoken prompt length).
 */
export function requestConsumption(
  profile: GpuProfile | undefined,
  inputTokens: number,
  outputTokens: number,
): ConsumptionResult {
  if (profile === undefined) return { ok: false, error: "no-profile" };
  const sig = lookup(profile, [outputTokens, inputTokens]);
  if (!sig.ok) return { ok: false, error: "signature" };
  const lambda = throughputRps(profile, sig.value);
  const latency = latencySeconds(profile, sig.value);
  if (lambda === undefined || latency === undefined) return { ok: false, error: "no-data" };
  if (lambda === 0) return { ok: false, error: "slo-failure" };
  if (!(latency > 0)) return { ok: false, error: "invalid-latency" };
  return { ok: true, value: 1 / lambda / latency };
}

/** Utilization of a pod: the sum of its in-flight consumptions (empty → 0). */
export function podUtilization(consumptions: Iterable<number>): number {
  let sum = 0;
  for (const c of consumptions) sum += c;
  return sum;
}

/** Remaining capacity under the cap (may be negative when over-committed). */
export function headroom(utilization: number, cap: number = PENDING_LOAD_CAP): number {
  return cap - utilization;
}

/** Least-load pulling eligibility: `util + consumption <= cap`. */
export function fitsUnderCap(
  utilization: number,
  consumption: number,
  cap: number = PENDING_LOAD_CAP,
): boolean {
  return utilization + consumption <= cap;
}

/** Options for {@link PendingLoadAccumulator}. */
export interface PendingLoadAccumulatorOptions {
  maxPods?: number;
  maxPerPod?: number;
}

interface PodLoad {
  readonly requests: Map<string, number>;
  sum: number;
}

/** Per-pod sum of in-flight consumptions (`realtime_normalized_pendings`), with reserve/release. */
export class PendingLoadAccumulator {
  private readonly pods = new Map<string, PodLoad>();
  private readonly maxPods: number;
  private readonly maxPerPod: number;

  constructor(opts: PendingLoadAccumulatorOptions = {}) {
    this.maxPods = Math.max(1, opts.maxPods ?? DEFAULT_PENDING_MAX_PODS);
    this.maxPerPod = Math.max(1, opts.maxPerPod ?? DEFAULT_PENDING_MAX_PER_POD);
  }

  /**
   * Add `consumption` for `requestId` on `podKey`. False (nothing recorded) when the request is already reserved
   * on that pod, the consumption is not a finite non-negative number, or a bound is reached.
   */
  reserve(podKey: string, requestId: string, consumption: number): boolean {
    if (!Number.isFinite(consumption) || consumption < 0) return false;
    let pod = this.pods.get(podKey);
    if (pod === undefined) {
      if (this.pods.size >= this.maxPods) return false;
      pod = { requests: new Map(), sum: 0 };
      this.pods.set(podKey, pod);
    }
    if (pod.requests.has(requestId) || pod.requests.size >= this.maxPerPod) return false;
    pod.requests.set(requestId, consumption);
    pod.sum += consumption;
    return true;
  }

  /** Remove a reservation; returns the consumption released (0 when unknown). Idempotent. */
  release(podKey: string, requestId: string): number {
    const pod = this.pods.get(podKey);
    const c = pod?.requests.get(requestId);
    if (pod === undefined || c === undefined) return 0;
    pod.requests.delete(requestId);
    if (pod.requests.size === 0) this.pods.delete(podKey);
    else pod.sum = Math.max(0, pod.sum - c); // float drift never goes below zero
    return c;
  }

  /** Current utilization of a pod (0 when nothing is in flight). */
  utilization(podKey: string): number {
    return this.pods.get(podKey)?.sum ?? 0;
  }

  /** In-flight reservations on a pod. */
  inFlight(podKey: string): number {
    return this.pods.get(podKey)?.requests.size ?? 0;
  }

  /** Forget a pod (deleted from discovery). */
  dropPod(podKey: string): void {
    this.pods.delete(podKey);
  }

  /** Pods with at least one reservation. */
  size(): number {
    return this.pods.size;
  }
}
