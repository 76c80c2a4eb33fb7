/**
 * Shared types of the KV-event subscriber: observer hooks, per-pod status and the closed sets of failure
 * reasons that ZeroMQ and msgpack errors are mapped to at the boundary.
 *
 * @module
 */
import type { KvEventSink } from "../prefix";
import type { DecodeErrorReason, KvEvent, KvEventTag } from "./decode";
import type { ReplaySlots } from "./replay-slots";

/** Why a pod's indexed blocks were dropped. */
export type ResyncReason =
  /** Replay answered, but its first batch is newer than the one missing: the replay buffer no longer covers it. */
  | "gap-uncovered"
  /** No answer before the replay timeout (the blocks are dropped; the replay is retried with backoff). */
  | "replay-timeout"
  /** The replay socket failed or answered something that is not the replay protocol (retried with backoff). */
  | "replay-failed"
  /**
   * A new engine: the sequence went backwards, or a replay answered other bytes (or nothing) at the last applied
   * sequence. Followed by a replay from 0.
   */
  | "restart"
  /** Live messages overflowed the bounded queue while a replay was in progress (a rebuild replay follows). */
  | "overflow";

/** What asked for a replay. */
export type ReplayTrigger =
  /** The SUB socket connected for the first time: everything the engine still buffers. */
  | "connect"
  /** The SUB socket reconnected: the batches missed while disconnected. */
  | "reconnect"
  /** A live batch skipped sequence numbers (or the newest ones were dropped at the queue bound). */
  | "gap"
  /** A new engine: its history from 0. */
  | "restart"
  /** A retry after a failed replay or a resync (backoff). */
  | "retry"
  /**
   * One check a moment after a connect that brought no live batch: batches published between the replay and the
   * subscription reaching the engine (ZeroMQ slow joiner) are otherwise missed until the engine publishes again.
   */
  | "settle";

/** How a replay ended. */
export type ReplayResult =
  /** Everything from the requested sequence was applied. */
  | "ok"
  /** The engine's buffer no longer reached back to the requested sequence; what it had was applied. */
  | "partial"
  /** The engine answered as a new engine would (a restart follows). */
  | "restart"
  /** No answer within the replay timeout (retried with backoff). */
  | "timeout"
  /** Socket failure or protocol violation (retried with backoff). */
  | "failed";

/**
 * Where a pod's stream stands: `connecting` (no TCP connection to the PUB socket), `replaying` (a replay is
 * waiting for a slot or in flight; live batches are queued behind it), `live` (history applied, following the
 * stream), `resync-pending` (a replay failed or the queue overflowed: the live stream is followed and a replay is
 * retried with backoff).
 */
export type StreamState = "connecting" | "replaying" | "live" | "resync-pending";

/** What went wrong on a ZeroMQ socket, as a closed set (zeromq error codes mapped at the boundary). */
export type SocketFailure = "timeout" | "closed" | "unreachable" | "protocol" | "io";

/** Optional callbacks for metrics and logs. They must not throw (exceptions are swallowed). */
export interface KvEventsObserver {
  /** One event applied to the sink. */
  onEvent?(podKey: string, tag: KvEventTag): void;
  /**
   * A payload (or a multipart message) was rejected; the connection is kept. `detail` says what was wrong in a few
   * words, never with payload bytes.
   */
  onDecodeError?(podKey: string, reason: DecodeErrorReason | "frames", detail: string): void;
  /** A sequence gap was detected (a replay follows). */
  onGap?(podKey: string): void;
  /** A replay was asked for. */
  onReplayRequest?(podKey: string, trigger: ReplayTrigger): void;
  /** A replay ended; `batches` were applied from it. */
  onReplay?(podKey: string, result: ReplayResult, batches: number): void;
  /** A live or replayed batch was already applied and was skipped. */
  onDuplicate?(podKey: string): void;
  /** The pod's indexed blocks were dropped (`sink.dropPod`). */
  onResync?(podKey: string, reason: ResyncReason): void;
  /** The SUB socket connected (or reconnected) to the pod. */
  onConnect?(podKey: string): void;
  /** The SUB socket lost its connection to the pod (ZeroMQ reconnects on its own; `onConnect` follows). */
  onDisconnect?(podKey: string): void;
  /**
   * A batch stamped with data-parallel rank `stamped`, not the rank whose socket it came from, was dropped (see
   * `applyBatch`).
   */
  onRankMismatch?(podKey: string, stamped: number): void;
  /** A socket failed; the subscriber backs off and reconnects. */
  onSocketError?(podKey: string, failure: SocketFailure): void;
}

/** Counters and state of one pod's subscription. */
export interface PodStatus {
  /** Last applied sequence number; undefined before the first message and right after a resync. */
  readonly lastSeq: bigint | undefined;
  readonly events: number;
  /** Well-formed batches received off the SUB socket (live), whether applied, skipped or dropped. */
  readonly received: number;
  readonly gaps: number;
  /** Replays asked for. */
  readonly replays: number;
  /** Replays that timed out. */
  readonly replayTimeouts: number;
  /** Batches applied from replays. */
  readonly replayedBatches: number;
  readonly resyncs: number;
  readonly decodeErrors: number;
  /** Events with a tag this decoder does not know (skipped). */
  readonly unknownTags: number;
  /** Events skipped by the event filter (other medium, other KV-cache group). */
  readonly filtered: number;
  /** Live messages dropped because the bounded queue was full (each later shows up as a gap). */
  readonly queueDrops: number;
  /** Live messages waiting in the queue now. */
  readonly queued: number;
  /** Replayed or live batches already applied, ignored. */
  readonly duplicates: number;
  /** Socket failures that caused a reconnect. */
  readonly socketErrors: number;
  /** Exceptions thrown by the sink (swallowed). */
  readonly sinkErrors: number;
  /** Batches dropped because they were stamped with another data-parallel rank than the socket's. */
  readonly rankMismatches: number;
  /** The SUB socket is connected to the pod. */
  readonly connected: boolean;
  /** A replay is waiting or in flight (the pod's index is behind the engine). */
  readonly replaying: boolean;
  /** See {@link StreamState}. */
  readonly state: StreamState;
  /** Milliseconds until the next retry while `resync-pending`; undefined otherwise. */
  readonly retryInMs: number | undefined;
}

/**
 * Which events reach the sink. The default keeps GPU-tier events (or events without a medium, from producers
 * older than the field) of KV-cache group 0 (or without a group): CPU/disk offload tiers would otherwise
 * remove GPU blocks, and hybrid models repeat the same hashes per group.
 */
export type EventFilter = (event: KvEvent) => boolean;

/** The default {@link EventFilter}. */
export const gpuGroupZero: EventFilter = (e) =>
  e.tag === "AllBlocksCleared" ||
  ((e.medium === undefined || e.medium === "GPU") && (e.groupIdx === undefined || e.groupIdx === 0));

/** Map anything a zeromq call threw to a {@link SocketFailure}. */
export function socketFailure(err: unknown): SocketFailure {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  switch (code) {
    case "EAGAIN":
      return "timeout";
    case "ETERM":
    case "ENOTSOCK":
    case "EBADF":
      return "closed";
    case "EHOSTUNREACH":
    case "ECONNREFUSED":
    case "ENETUNREACH":
      return "unreachable";
    case "EFSM":
    case "EPROTO":
      return "protocol";
    default:
      return "io";
  }
}

/** Options of one `PodSubscriber`. */
export interface PodSubscriberOptions {
  readonly podKey: string;
  /** Pod IP (IPv6 allowed) or host name. */
  readonly ip: string;
  /** PUB port of this pod's engine (base port + data-parallel rank). */
  readonly pubPort: number;
  /** ROUTER replay port (base replay port + data-parallel rank). */
  readonly replayPort: number;
  /**
   * The data-parallel rank these ports belong to, when the pod serves several: batches stamped with another rank
   * are dropped. Absent: the stamp is not checked (a pod with one rank may be any rank of a larger deployment).
   */
  readonly rank?: number | undefined;
  readonly sink: KvEventSink;
  readonly observer?: KvEventsObserver;
  /** Per-receive timeout of a replay, ms (default 5000). */
  readonly replayTimeoutMs?: number;
  /** Bound of the live-message queue (default 10 000 batches). */
  readonly queueLimit?: number;
  /** Reconnect backoff after a socket failure, ms (default 100 doubling to 10 000). */
  readonly backoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Retry backoff after a failed replay, ms (default 1000 doubling to 30 000). */
  readonly retryBackoff?: { readonly initialMs: number; readonly maxMs: number };
  /** Delay of the `settle` replay after a connect that brought no live batch, ms (default 1000). */
  readonly settleMs?: number;
  /** Replays in flight across pods (default: a bound of 4 for this subscriber alone). */
  readonly replaySlots?: ReplaySlots;
  /** Which events reach the sink (default {@link gpuGroupZero}). */
  readonly filter?: EventFilter;
}
