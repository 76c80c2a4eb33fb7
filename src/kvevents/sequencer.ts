/**
 * The pure sequencing core of one pod's KV-event stream: which live or replayed batch to apply, skip or act on,
 * given what was applied before. No sockets, no clock: {@link PodSubscriber} feeds it and does what it says.
 *
 * Continuity across a reconnect is proven, not assumed. vLLM sends no epoch and its sequence restarts at 0 in a
 * new process, so a restarted engine that is already past the old sequence looks like the old one by number alone.
 * A replay therefore starts AT the last applied sequence (the anchor), not after it: the same engine answers that
 * batch byte for byte (its payload carries the engine's float timestamp), a new engine answers different bytes or
 * nothing at all (its newest batch is older than the anchor). Only when the anchor is proven are the pod's blocks
 * kept; a new engine means dropping them and replaying from 0.
 *
 * @module
 */
import type { SeqBatch } from "./replay";

/** What to do with one live batch. */
export type LiveVerdict =
  /** Next in order (or the stream is being followed without history): apply it. */
  | "apply"
  /** Already applied (by a replay, or the same bytes as the last applied batch): skip and count. */
  | "duplicate"
  /** Batches are missing before it: replay first, then classify it again. */
  | "gap"
  /** The sequence went backwards: a new engine. Drop the pod, replay from 0, then classify it again. */
  | "restart";

/** What to do with one replayed batch. */
export type ReplayedVerdict =
  /** Next in order: apply it. */
  | "apply"
  /** The anchor itself (continuity proven), or a batch already applied: skip. */
  | "duplicate"
  /**
   * Drop the pod, then apply it: the engine's buffer no longer covers the anchor (the first replayed sequence is
   * newer than requested), so what happened in between is unknown (a counted resync).
   */
  | "uncovered"
  /** Drop the pod, then apply it: a rebuild replaces what live-following put in the index after a resync. */
  | "rebuild"
  /** The anchor's sequence came back with other bytes: a new engine. */
  | "restart"
  /** Out of order: not the replay protocol. */
  | "broken";

/** How a replay ended at its end marker. */
export type ReplayEnd =
  /** The replay covered everything from the requested sequence. */
  | "ok"
  /** The engine's buffer started after the requested sequence: older history is lost. */
  | "partial"
  /** Nothing at or after the anchor: the engine's newest batch is older than what was applied, so it restarted. */
  | "restart";

/** The last applied batch: its sequence and bytes. */
interface Anchor {
  readonly seq: bigint;
  readonly payload: Uint8Array;
}

function sameBytes(a: Uint8Array, b: Uint8Array): boolean {
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

/** Sequence state of one pod. */
export class StreamSequencer {
  private anchor: Anchor | undefined;
  /**
   * Whether every batch from the engine's start (or from where its buffer began) up to the anchor was applied. False
   * after a resync: the live stream is followed, and the next replay rebuilds the pod from 0.
   */
  private complete = true;
  /** Next sequence expected without an anchor (0 at start; undefined while following live after a resync). */
  private expected: bigint | undefined = 0n;
  /** Sequences the last replay covered: live copies of these are duplicates, not a restart. */
  private covered: { from: bigint; to: bigint } | undefined;
  /** The replay in progress. */
  private replay: { from: bigint; rebuild: boolean; first: bigint | undefined } | undefined;

  /** Last applied sequence; undefined before the first and after a resync. */
  get lastSeq(): bigint | undefined {
    return this.anchor?.seq;
  }

  /** A batch was applied since the last resync (the index holds something of this engine's). */
  get hasApplied(): boolean {
    return this.anchor !== undefined;
  }

  /** The pod's history since its engine started (or since its buffer began) is applied. */
  get historyComplete(): boolean {
    return this.complete;
  }

  /** Classify a live batch. Does not change state; call {@link applied} after applying. */
  classifyLive(b: SeqBatch): LiveVerdict {
    const win = this.covered;
    if (win !== undefined && b.seq >= win.from && b.seq <= win.to) return "duplicate";
    const a = this.anchor;
    if (a === undefined) {
      const e = this.expected;
      if (e === undefined || b.seq === e) return "apply";
      return b.seq > e ? "gap" : "restart";
    }
    if (b.seq === a.seq + 1n) return "apply";
    if (b.seq > a.seq + 1n) return "gap";
    if (b.seq === a.seq && sameBytes(b.payload, a.payload)) return "duplicate";
    return "restart";
  }

  /** Record an applied batch (live or replayed). */
  applied(b: SeqBatch): void {
    this.anchor = { seq: b.seq, payload: b.payload };
    this.expected = undefined;
    if (this.covered !== undefined && this.replay === undefined && b.seq > this.covered.to)
      this.covered = undefined;
  }

  /** The pod was dropped: follow the live stream from whatever comes next; the next replay rebuilds from 0. */
  forget(): void {
    this.anchor = undefined;
    this.expected = undefined;
    this.covered = undefined;
    this.complete = false;
  }

  /** A new engine: nothing is known, the next replay starts at 0 and any live batch waits for it. */
  restarted(): void {
    this.forget();
    this.expected = 0n;
  }

  /**
   * Start a replay; returns the sequence to request. Anchored (from the last applied batch) when the history is
   * complete; otherwise a rebuild from 0.
   */
  beginReplay(): bigint {
    const rebuild = !this.complete || this.anchor === undefined;
    const from = rebuild ? 0n : (this.anchor as Anchor).seq;
    this.replay = { from, rebuild, first: undefined };
    return from;
  }

  /** Classify one replayed batch; call {@link applied} for the ones applied. */
  classifyReplayed(b: SeqBatch): ReplayedVerdict {
    const r = this.replay;
    if (r === undefined) return "broken";
    if (r.first === undefined) {
      r.first = b.seq;
      if (b.seq < r.from) return "broken";
      if (r.rebuild) {
        // A rebuild replaces what live-following put in the index with the engine's own ordered history.
        return this.anchor === undefined ? "apply" : "rebuild";
      }
      const a = this.anchor as Anchor;
      if (b.seq === a.seq) return sameBytes(b.payload, a.payload) ? "duplicate" : "restart";
      return "uncovered";
    }
    const last = this.anchor?.seq;
    if (last === undefined) return "broken";
    if (b.seq <= last) return "duplicate";
    return b.seq === last + 1n ? "apply" : "broken";
  }

  /** An `uncovered` or `rebuild` verdict was acted on: the index is empty, the batch about to be applied starts it. */
  droppedForReplay(): void {
    this.anchor = undefined;
  }

  /** The end marker arrived. */
  endReplay(): ReplayEnd {
    const r = this.replay;
    this.replay = undefined;
    if (r === undefined) return "ok";
    if (r.first === undefined) {
      // The engine buffers its newest batch: nothing at or after one it sent means it is a new engine.
      if (!r.rebuild || this.anchor !== undefined) return "restart";
      // Nothing buffered yet: the engine has published nothing (or nothing since it started); expect its first.
      this.complete = true;
      if (this.anchor === undefined) this.expected = r.from;
      return "ok";
    }
    this.complete = true;
    this.covered = { from: r.from, to: this.anchor?.seq ?? r.from };
    return r.first > r.from ? "partial" : "ok";
  }

  /** The replay failed (timeout, socket error, protocol): nothing about the sequence changes. */
  abortReplay(): void {
    this.replay = undefined;
  }
}
