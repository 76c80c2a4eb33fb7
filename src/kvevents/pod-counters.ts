/**
 * What a pod subscriber counts (events, gaps, replays, resyncs, drops, errors) and its connection state: the
 * part of `PodStatus` the subscriber mutates in place, the rest (`lastSeq`, queue size, replaying, retry due) being
 * read live when `status()` is asked. One object, shared with `applyBatch` as its counters, so the status
 * and the apply loop never disagree.
 *
 * @module
 */
import type { PodStatus } from "./types";

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** The mutable counters and state of one subscriber. */
export type PodCounters = Mutable<Omit<PodStatus, "lastSeq" | "queued" | "replaying" | "retryInMs">>;

/** All counters at zero, not connected, state `connecting`. */
export function newPodCounters(): PodCounters {
  return {
    events: 0,
    received: 0,
    gaps: 0,
    replays: 0,
    replayTimeouts: 0,
    replayedBatches: 0,
    resyncs: 0,
    decodeErrors: 0,
    unknownTags: 0,
    filtered: 0,
    queueDrops: 0,
    duplicates: 0,
    socketErrors: 0,
    sinkErrors: 0,
    rankMismatches: 0,
    connected: false,
    state: "connecting",
  };
}
