/**
 * Shared types of the KV-event subscriber: observer hooks, per-pod status and the closed sets of failure
 * reasons that ZeroMQ and msgpack errors are mapped to at the boundary.
 *
 * @module
 */
import type { DecodeErrorReason, KvEvent, KvEventTag } from "./decode";

/** Why a pod's index was dropped and its stream restarted from the live position. */
export type ResyncReason =
  /** Replay answered, but its first batch is newer than the one missing: the replay buffer no longer covers it. */
  | "gap-uncovered"
  /** No answer before the replay timeout. */
  | "replay-timeout"
  /** The replay socket failed or answered something that is not the replay protocol. */
  | "replay-failed"
  /** The sequence went backwards: the engine (and its publisher) restarted. */
  | "restart"
  /** Live messages overflowed the bounded queue while a replay was in progress. */
  | "overflow"
  /**
   * The TCP connection to the engine dropped and came back. vLLM sends no epoch, so the engine may have restarted
   * with a sequence already past the old one; what the index holds for the pod can no longer be trusted.
   */
  | "reconnect";

/** What went wrong on a ZeroMQ socket, as a closed set (zeromq error codes mapped at the boundary). */
export type SocketFailure = "timeout" | "closed" | "unreachable" | "protocol" | "io";

/** Optional callbacks for metrics and logs. They must not throw (exceptions are swallowed). */
export interface KvEventsObserver {
  /** One event applied to the sink. */
  onEvent?(podKey: string, tag: KvEventTag): void;
  /** A payload (or a multipart message) was rejected; the connection is kept. */
  onDecodeError?(podKey: string, reason: DecodeErrorReason | "frames"): void;
  /** A sequence gap was detected (a replay follows). */
  onGap?(podKey: string): void;
  /** A replay finished; `ok` when it covered the whole gap. */
  onReplay?(podKey: string, ok: boolean): void;
  /** The pod's index was dropped (`sink.dropPod`) and its stream resynchronised. */
  onResync?(podKey: string, reason: ResyncReason): void;
  /** The SUB socket connected (or reconnected) to the pod. */
  onConnect?(podKey: string): void;
  /** A socket failed; the subscriber backs off and reconnects. */
  onSocketError?(podKey: string, failure: SocketFailure): void;
}

/** Counters and state of one pod's subscription. */
export interface PodStatus {
  /** Last applied sequence number; undefined before the first message and right after a resync. */
  readonly lastSeq: bigint | undefined;
  readonly events: number;
  readonly gaps: number;
  readonly replays: number;
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
  /** The SUB socket is connected to the pod. */
  readonly connected: boolean;
  /** A gap is being replayed (the pod's index is behind the engine). */
  readonly replaying: boolean;
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
