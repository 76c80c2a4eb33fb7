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
