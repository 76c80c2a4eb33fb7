/**
 * vLLM KV-cache events over ZeroMQ: payload decoding, per-pod subscription with replay-based gap recovery, and
 * the cluster-following manager.
 *
 * @module
 */
export {
  decodeBatch,
  isDecodeError,
  normaliseHash,
  type AllBlocksClearedEvent,
  type BlockRemovedEvent,
  type BlockStoredEvent,
  type DecodeError,
  type DecodeErrorReason,
  type DecodedBatch,
  type KvEvent,
  type KvEventTag,
} from "./decode";
export { KV_EVENTS_LABEL, labelEnabled, startKvEvents, type KvEvents, type KvEventsOptions } from "./manager";
export { PodSubscriber } from "./pod-subscriber";
export { ReplaySlots, RetryBackoff, type SlotTicket } from "./replay-slots";
export { StreamSequencer, type LiveVerdict, type ReplayEnd, type ReplayedVerdict } from "./sequencer";
export { END_SEQ, ReplayFailure, ReplayRequest, seq8, tcpEndpoint, type SeqBatch } from "./replay";
export {
  gpuGroupZero,
  socketFailure,
  type EventFilter,
  type KvEventsObserver,
  type PodStatus,
  type PodSubscriberOptions,
  type ReplayResult,
  type ReplayTrigger,
  type ResyncReason,
  type StreamState,
  type SocketFailure,
} from "./types";
