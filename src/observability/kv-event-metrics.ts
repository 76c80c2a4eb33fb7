/**
 * The KV-event subscription's metrics: events applied, stream trouble, replays and resyncs, all per pod. Kept
 * apart from `metrics.ts` because they form one story: is the event-fed index keeping up with vLLM? Their pod
 * labels go through the shared pod-label limiter where they are recorded.
 *
 * @module
 */
import { Counter } from "prom-client";
import type { Registry } from "prom-client";

/** The KV-event handles (part of `Metrics`). */
export interface KvEventMetrics {
  /** KV events applied, by pod and event tag. */
  readonly kvEvents: Counter<"pod" | "tag">;
  /** KV-event stream trouble by pod and kind: decode-error, gap, replay-ok, replay-failed, resync, socket-error. */
  readonly kvEventIssues: Counter<"pod" | "kind">;
  /** KV-event replays asked for, by pod and trigger (connect, reconnect, gap, restart, retry, settle). */
  readonly kvReplays: Counter<"pod" | "trigger">;
  /** KV-event replays ended, by pod and result (ok, partial, restart, timeout, failed). */
  readonly kvReplayResults: Counter<"pod" | "result">;
  /** Batches applied from KV-event replays, by pod. */
  readonly kvReplayedBatches: Counter<"pod">;
  /** Live or replayed KV-event batches skipped as already applied, by pod. */
  readonly kvDuplicateBatches: Counter<"pod">;
  /** Times a pod's event-indexed blocks were dropped, by pod and reason. */
  readonly kvResyncs: Counter<"pod" | "reason">;
}

/** Register the KV-event metrics. */
export function createKvEventMetrics(registry: Registry): KvEventMetrics {
  const registers = [registry];
  return {
    kvEvents: new Counter({
      name: "kvroute_kv_events_total",
      help: "vLLM KV-cache events applied to the index, by pod and event type.",
      labelNames: ["pod", "tag"],
      registers,
    }),
    kvEventIssues: new Counter({
      name: "kvroute_kv_event_issues_total",
      help: "KV-event stream trouble by pod and kind (decode-error, gap, replay-ok, replay-failed, resync, socket-error, rank-mismatch).",
      labelNames: ["pod", "kind"],
      registers,
    }),
    kvReplays: new Counter({
      name: "kvroute_kv_replays_total",
      help: "KV-event replays asked for, by pod and trigger (connect, reconnect, gap, restart, retry, settle).",
      labelNames: ["pod", "trigger"],
      registers,
    }),
    kvReplayResults: new Counter({
      name: "kvroute_kv_replay_results_total",
      help: "KV-event replays ended, by pod and result (ok, partial, restart, timeout, failed).",
      labelNames: ["pod", "result"],
      registers,
    }),
    kvReplayedBatches: new Counter({
      name: "kvroute_kv_replayed_batches_total",
      help: "KV-event batches applied from replays, by pod.",
      labelNames: ["pod"],
      registers,
    }),
    kvDuplicateBatches: new Counter({
      name: "kvroute_kv_duplicate_batches_total",
      help: "KV-event batches skipped because they were already applied, by pod.",
      labelNames: ["pod"],
      registers,
    }),
    kvResyncs: new Counter({
      name: "kvroute_kv_resyncs_total",
      help: "Times a pod's KV-event-indexed blocks were dropped, by pod and reason (gap-uncovered, replay-timeout, replay-failed, restart, overflow).",
      labelNames: ["pod", "reason"],
      registers,
    }),
  };
}
