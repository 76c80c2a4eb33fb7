/**
 * One replay, applied: the engine's buffered batches from where {@link StreamSequencer} says, each applied,
 * skipped or acted on as it says, in order, until the end marker. The pod-specific effects (the sink, counters,
 * resyncs) belong to the caller, behind {@link ReplayHost}.
 *
 * @module
 */
import { ReplayFailure } from "./replay";
import type { ReplayRequest, SeqBatch } from "./replay";
import type { StreamSequencer } from "./sequencer";
import type { ReplayResult, ResyncReason } from "./types";

/** What a replay does to its pod. */
export interface ReplayHost {
  readonly seq: StreamSequencer;
  isClosed(): boolean;
  /** Apply one batch to the sink and record it in the sequencer. */
  apply(b: SeqBatch): void;
  /** Count a batch skipped as already applied. */
  duplicate(): void;
  /** Drop the pod's blocks, counted. */
  resync(reason: ResyncReason): void;
  /** Drop the pod's blocks without counting a resync (a rebuild after one was already counted). */
  dropPod(): void;
  /** Yield to the event loop when the current slice is used up. */
  maybeYield(): Promise<void>;
}

/** How the replay ended and how many batches it applied; `closed` when the subscriber closed under it. */
export interface AppliedReplay {
  readonly result: ReplayResult | "closed";
  readonly applied: number;
}

/** Run `request` (asking from `from`, as `host.seq.beginReplay()` returned) and apply what it yields. */
export async function applyReplay(
  host: ReplayHost,
  request: ReplayRequest,
  from: bigint,
): Promise<AppliedReplay> {
  const { seq } = host;
  let applied = 0;
  try {
    for await (const b of request.batches()) {
      if (host.isClosed()) return { result: "closed", applied };
      const verdict = seq.classifyReplayed(b);
      if (verdict === "restart" || verdict === "broken") {
        seq.abortReplay();
        return { result: verdict === "restart" ? "restart" : "failed", applied };
      }
      if (verdict === "duplicate") {
        if (b.seq !== from) host.duplicate(); // the anchor coming back is the continuity proof, not a duplicate
        continue;
      }
      if (verdict === "uncovered") host.resync("gap-uncovered");
      else if (verdict === "rebuild") host.dropPod();
      if (verdict !== "apply") seq.droppedForReplay();
      host.apply(b);
      applied++;
      await host.maybeYield();
    }
    return { result: seq.endReplay(), applied };
  } catch (err) {
    seq.abortReplay();
    if (host.isClosed()) return { result: "closed", applied };
    const timeout = err instanceof ReplayFailure && err.reason === "replay-timeout";
    return { result: timeout ? "timeout" : "failed", applied };
  }
}
