/**
 * Keeps one {@link PodSubscriber} per ready, KV-events-enabled pod of the cluster, following the cluster
 * store's snapshots: pods that appear (or become ready) are subscribed, pods that are removed, become unready,
 * lose their events flag or change IP are unsubscribed and their index entries dropped (`sink.dropPod`).
 *
 * @module
 */
import type { ClusterSnapshot, ClusterStore, Pod } from "../cluster";
import type { KvEventSink } from "../prefix";
import { PodSubscriber } from "./pod-subscriber";
import { ReplaySlots } from "./replay-slots";
import type { EventFilter, KvEventsObserver, PodStatus } from "./types";

/** The pod label that opts a pod into KV-event subscription (AIBrix convention). */
export const KV_EVENTS_LABEL = "model.aibrix.ai/kv-events-enabled";

/** Default `enabledFor`: the pod carries `model.aibrix.ai/kv-events-enabled: "true"`. */
export function labelEnabled(pod: Pod): boolean {
  return pod.labels[KV_EVENTS_LABEL] === "true";
}

/** Options of {@link startKvEvents}. */
export interface KvEventsOptions {
  readonly cluster: ClusterStore;
  readonly sink: KvEventSink;
  /** Base ports on every pod: vLLM's PUB endpoint and its ROUTER replay endpoint (rank 0). */
  readonly ports: { readonly pub: number; readonly replay: number };
  /** Whether a pod publishes KV events (label check, or a static-mode flag). */
  readonly enabledFor: (pod: Pod) => boolean;
  /**
   * The engine's data-parallel rank on this endpoint, undefined for a pod with one rank (default:
   * `pod.dataParallelRank`). vLLM offsets both the PUB and the replay port by the rank (`offset_endpoint_port`),
   * so the subscriber connects to `pub + rank` and `replay + rank`, and drops batches stamped with another rank.
   */
  readonly rankOf?: (pod: Pod) => number | undefined;
  readonly observer?: KvEventsObserver;
  /** Per-receive replay timeout, ms (default 5000). */
  readonly replayTimeoutMs?: number;
  /** Replays in flight across all pods (default 4); beyond it pods wait their turn, live batches queued. */
  readonly maxConcurrentReplays?: number;
  /** Retry backoff after a failed replay (default 1000 ms doubling to 30 000 ms). */
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Delay of the one check replay after a connect that brought no live batch, ms (default 1000). */
  readonly settleMs?: number;
  /** Bound of each pod's live queue, in batches (default 10 000). */
  readonly queueLimit?: number;
  /** Reconnect backoff after socket failures. */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Which events reach the sink (default: GPU tier, KV-cache group 0). */
  readonly filter?: EventFilter;
}

/** Handle of the running KV-event subscriptions. */
export interface KvEvents {
  /** Counters of a subscribed pod; undefined for pods not subscribed. */
  status(podKey: string): PodStatus | undefined;
  /** Subscribed, connected, and not behind an unrecovered gap. */
  publishing(podKey: string): boolean;
  /** Replays in flight and pods waiting for a replay slot. */
  replaySlots(): { readonly inFlight: number; readonly queued: number };
  /** Keys of the subscribed pods, sorted. */
  pods(): string[];
  /** Unsubscribe everything (does not drop the pods' index entries). */
  close(): Promise<void>;
}

interface Entry {
  readonly endpoint: string;
  readonly subscriber: PodSubscriber;
}

/** Start following `cluster`; subscribes to the current snapshot at once. */
export function startKvEvents(opts: KvEventsOptions): KvEvents {
  const { cluster, sink, ports } = opts;
  const rankOf = opts.rankOf ?? ((pod: Pod) => pod.dataParallelRank);
  const entries = new Map<string, Entry>();
  const closing = new Set<Promise<void>>();
  const replaySlots = new ReplaySlots(opts.maxConcurrentReplays ?? 4);
  let closed = false;

  function stop(key: string, entry: Entry): void {
    entries.delete(key);
    const p = entry.subscriber.close();
    closing.add(p);
    void p.finally(() => closing.delete(p));
    try {
      sink.dropPod(key);
    } catch {
      // The sink's own failure must not stop the reconciliation of other pods.
    }
  }

  function reconcile(snapshot: ClusterSnapshot): void {
    if (closed) return;
    const wanted = new Map<string, { pod: Pod; endpoint: string; rank: number | undefined }>();
    for (const pod of snapshot.pods.values()) {
      if (!pod.ready || pod.ip === "" || !opts.enabledFor(pod)) continue;
      const rank = rankOf(pod);
      const offset = rank ?? 0;
      wanted.set(pod.key, {
        pod,
        rank,
        endpoint: `${pod.ip}|${ports.pub + offset}|${ports.replay + offset}|${rank ?? ""}`,
      });
    }
    for (const [key, entry] of entries) {
      const w = wanted.get(key);
      if (w === undefined || w.endpoint !== entry.endpoint) stop(key, entry);
    }
    for (const [key, w] of wanted) {
      if (entries.has(key)) continue;
      const subscriber = new PodSubscriber({
        podKey: key,
        ip: w.pod.ip,
        pubPort: ports.pub + (w.rank ?? 0),
        replayPort: ports.replay + (w.rank ?? 0),
        rank: w.rank,
        sink,
        replaySlots,
        ...(opts.retryBackoff === undefined ? {} : { retryBackoff: opts.retryBackoff }),
        ...(opts.settleMs === undefined ? {} : { settleMs: opts.settleMs }),
        ...(opts.observer === undefined ? {} : { observer: opts.observer }),
        ...(opts.replayTimeoutMs === undefined ? {} : { replayTimeoutMs: opts.replayTimeoutMs }),
        ...(opts.queueLimit === undefined ? {} : { queueLimit: opts.queueLimit }),
        ...(opts.backoff === undefined ? {} : { backoff: opts.backoff }),
        ...(opts.filter === undefined ? {} : { filter: opts.filter }),
      });
      entries.set(key, { endpoint: w.endpoint, subscriber });
    }
  }

  const unsubscribe = cluster.onChange(reconcile);
  reconcile(cluster.snapshot());

  return {
    status: (podKey) => entries.get(podKey)?.subscriber.status(),
    publishing: (podKey) => entries.get(podKey)?.subscriber.publishing() ?? false,
    pods: () => [...entries.keys()].sort(),
    replaySlots: () => ({ inFlight: replaySlots.inFlight, queued: replaySlots.queued }),
    async close() {
      if (closed) return;
      closed = true;
      unsubscribe();
      const all = [...entries.values()].map((e) => e.subscriber.close());
      entries.clear();
      await Promise.all([...all, ...closing]);
    },
  };
}
