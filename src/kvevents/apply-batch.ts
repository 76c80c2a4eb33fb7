/**
 * Decode one batch and hand its events to the sink, counting what was skipped or failed. Shared by the live and
 * the replay path of {@link PodSubscriber}.
 *
 * @module
 */
import type { KvEventSink } from "../prefix";
import { decodeBatch, isDecodeError } from "./decode";
import type { EventFilter, KvEventsObserver } from "./types";

/** The counters {@link applyBatch} advances. */
export interface ApplyCounters {
  events: number;
  decodeErrors: number;
  unknownTags: number;
  filtered: number;
  sinkErrors: number;
  rankMismatches: number;
}

/** Where one pod's batches go. */
export interface ApplyTarget {
  readonly podKey: string;
  readonly sink: KvEventSink;
  readonly filter: EventFilter;
  /**
   * The data-parallel rank whose socket this is, when the pod serves several. A batch stamped with another rank is
   * dropped (see {@link applyBatch}).
   */
  readonly rank?: number | undefined;
  readonly counters: ApplyCounters;
  /** Calls an observer hook, swallowing its exceptions. */
  readonly notify: (fn: (o: KvEventsObserver) => void) => void;
}

/**
 * Apply one batch's events to the sink (a payload that does not decode is counted and skipped).
 *
 * A batch whose `data_parallel_rank` is not the target's rank is counted and dropped whole, not attributed to the
 * rank it names: vLLM binds rank r's publisher to base port + r, so the socket says which engine sent it, and a
 * batch that disagrees means the ports are not what discovery thinks (another process, another rank numbering).
 * Its blocks cannot be placed on a rank with confidence, and a block on the wrong rank routes a prefix where it is
 * not. Dropping leaves the rank's index short (fewer prefix hits), never wrong. The sequence still advances: the
 * batch was received in order.
 */
export function applyBatch(t: ApplyTarget, payload: Uint8Array): void {
  const { podKey, sink, filter, counters: c } = t;
  const batch = decodeBatch(payload);
  if (isDecodeError(batch)) {
    c.decodeErrors++;
    t.notify((o) => o.onDecodeError?.(podKey, batch.reason, batch.detail));
    return;
  }
  if (t.rank !== undefined && batch.dataParallelRank !== undefined && batch.dataParallelRank !== t.rank) {
    c.rankMismatches++;
    const stamped = batch.dataParallelRank;
    t.notify((o) => o.onRankMismatch?.(podKey, stamped));
    return;
  }
  c.unknownTags += batch.unknownTags;
  for (const ev of batch.events) {
    if (!filter(ev)) {
      c.filtered++;
      continue;
    }
    try {
      if (ev.tag === "BlockStored") {
        sink.blockStored(podKey, {
          blockHashes: ev.blockHashes,
          parentBlockHash: ev.parentBlockHash,
          tokenIds: ev.tokenIds,
          blockSize: ev.blockSize,
          loraName: ev.loraName,
        });
      } else if (ev.tag === "BlockRemoved") {
        sink.blockRemoved(podKey, ev.blockHashes);
      } else {
        sink.allBlocksCleared(podKey);
      }
    } catch {
      c.sinkErrors++;
      continue;
    }
    c.events++;
    t.notify((o) => o.onEvent?.(podKey, ev.tag));
  }
}
