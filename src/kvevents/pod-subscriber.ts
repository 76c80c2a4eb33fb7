/**
 * One pod's KV-event stream: a ZeroMQ SUB socket on the engine's PUB endpoint, and the engine's ROUTER replay
 * socket (vLLM's `ZmqEventPublisher`) for everything the live stream did not deliver.
 *
 * The engine's buffer is asked, not assumed away: on the first connect (batches published before kvroute
 * subscribed, or lost to ZeroMQ's slow joiner), on every reconnect (batches published while disconnected), on a
 * sequence gap, and on a retry after a failed replay. Live batches that arrive meanwhile wait in the bounded queue
 * and are applied after the replayed ones; copies of what the replay applied are skipped and counted. Which batch
 * to apply, skip or act on is decided by {@link StreamSequencer} (pure); this class runs the sockets and timers.
 *
 * A reconnect keeps the pod's blocks: the replay starts at the last applied batch and proves the engine is the same
 * one (same bytes) before the gap is filled. The blocks are dropped (a counted resync) only when the replay shows
 * they cannot be trusted: a new engine (restart, then a replay from 0), a buffer that no longer reaches back to
 * the gap (then what the buffer still holds is applied: those blocks are real), a failed or timed-out replay, or
 * live batches overflowing the queue during a replay. After a failure the live stream is followed (state
 * `resync-pending`) and the replay is retried with backoff; a success rebuilds the pod from the engine's buffer.
 *
 * Two loops share the queue: the receive loop ({@link SubConnection}) pulls frames off the socket, the apply loop
 * decodes and applies them, yielding to the event loop every few milliseconds so a slow sink fills the queue
 * instead of libzmq's buffers.
 *
 * @module
 */
import { setImmediate as yieldNow } from "node:timers/promises";
import { applyBatch } from "./apply-batch";
import type { ApplyTarget } from "./apply-batch";
import { ReplayRequest, tcpEndpoint } from "./replay";
import { applyReplay } from "./replay-apply";
import type { ReplayHost } from "./replay-apply";
import type { SeqBatch } from "./replay";
import { ReplaySlots, RetryBackoff } from "./replay-slots";
import { LiveQueue } from "./live-queue";
import { StreamSequencer } from "./sequencer";
import { SubConnection } from "./sub-connection";
import { newPodCounters } from "./pod-counters";
import type { PodCounters } from "./pod-counters";
import { ReplayTimer } from "./replay-timer";
import type {
  PodSubscriberOptions,
  KvEventsObserver,
  PodStatus,
  ReplayResult,
  ReplayTrigger,
  ResyncReason,
} from "./types";
import { gpuGroupZero } from "./types";

/** A replay's outcome, or the subscriber closed under it. */
type ReplayOutcome = ReplayResult | "closed";

const SLICE_MS = 4;

/** A subscription to one pod's KV events. Starts on construction; `close()` stops it. */
export class PodSubscriber {
  readonly podKey: string;
  private readonly opts: PodSubscriberOptions;
  private readonly st: PodCounters = newPodCounters();
  private readonly seq = new StreamSequencer();
  private readonly target: ApplyTarget;
  private readonly replayHost: ReplayHost = {
    seq: this.seq,
    isClosed: () => this.closed,
    apply: (b) => this.apply(b),
    duplicate: () => this.duplicate(),
    resync: (reason) => this.resync(reason),
    dropPod: () => this.dropPod(),
    maybeYield: () => this.maybeYield(),
  };
  private readonly slots: ReplaySlots;
  private readonly retry: RetryBackoff;
  private readonly queue: LiveQueue;
  private closed = false;
  private readonly connection: SubConnection;
  private replayRequest: ReplayRequest | undefined;
  private releaseSlot: (() => void) | undefined;
  private wake: (() => void) | undefined;
  /** A replay to run before the next live batch (set by connect events and timers). */
  private pending: ReplayTrigger | undefined;
  private readonly timer = new ReplayTimer((trigger) => {
    if (trigger === "settle" && this.liveSinceConnect > 0) return;
    this.pending ??= trigger;
    this.wake?.();
  });
  private overflowed = false;
  /** The TCP connection dropped since the last connect: the next connect is a reconnect. */
  private lostConnection = false;
  /** Live batches received since the last connect (0 after a connect: a `settle` replay is due). */
  private liveSinceConnect = 0;
  private sliceStart = performance.now();
  private readonly done: Promise<void>;

  constructor(opts: PodSubscriberOptions) {
    this.opts = opts;
    this.podKey = opts.podKey;
    this.slots = opts.replaySlots ?? new ReplaySlots(4);
    this.queue = new LiveQueue(opts.queueLimit ?? 10_000);
    const rb = opts.retryBackoff ?? { initialMs: 1000, maxMs: 30_000 };
    this.retry = new RetryBackoff(rb.initialMs, rb.maxMs);
    this.target = {
      podKey: opts.podKey,
      sink: opts.sink,
      filter: opts.filter ?? gpuGroupZero,
      rank: opts.rank,
      counters: this.st,
      notify: (fn) => this.notify(fn),
    };
    this.connection = new SubConnection(
      opts.ip,
      opts.pubPort,
      opts.backoff ?? { initialMs: 100, maxMs: 10_000 },
      {
        frames: (frames) => this.enqueue(frames),
        connected: () => this.connected(),
        disconnected: () => this.disconnected(),
        failed: (failure) => {
          this.st.socketErrors++;
          this.notify((o) => o.onSocketError?.(this.podKey, failure));
        },
      },
    );
    this.done = Promise.all([this.connection.done, this.applyLoop()]).then(() => undefined);
  }

  /** A snapshot of the counters. */
  status(): PodStatus {
    return {
      ...this.st,
      lastSeq: this.seq.lastSeq,
      queued: this.queue.size,
      replaying: this.st.state === "replaying",
      retryInMs: this.timer.retryInMs(),
    };
  }

  /**
   * Connected and the pod's event index can be used: its history is applied (`live`), or, after a failed replay,
   * the live stream has put something in it while the replay is retried (the same partial index kvroute always
   * had without replay; an idle engine therefore never shows as publishing with an index it never filled).
   */
  publishing(): boolean {
    if (this.closed || !this.st.connected) return false;
    const s = this.st.state;
    return s === "live" || (s === "resync-pending" && this.seq.hasApplied);
  }

  /** Stop both loops and close the sockets. Does not touch the sink. */
  async close(): Promise<void> {
    if (this.closed) return this.done;
    this.closed = true;
    this.st.connected = false;
    this.timer.clear();
    void this.connection.close();
    this.replayRequest?.close();
    this.releaseSlot?.();
    this.wake?.();
    return this.done;
  }

  private notify(fn: (o: KvEventsObserver) => void): void {
    const o = this.opts.observer;
    if (!o) return;
    try {
      fn(o);
    } catch {
      // Observers are metrics hooks; a failing one must not break the stream.
    }
  }

  /** The SUB socket connected: a replay runs before the next live batch. */
  private connected(): void {
    this.st.connected = true;
    this.notify((o) => o.onConnect?.(this.podKey));
    this.pending = this.lostConnection ? "reconnect" : "connect";
    this.lostConnection = false;
    this.liveSinceConnect = 0;
    this.wake?.();
  }

  private disconnected(): void {
    if (!this.st.connected) return;
    this.st.connected = false;
    this.lostConnection = true;
    if (this.st.state !== "resync-pending") this.st.state = "connecting";
    this.notify((o) => o.onDisconnect?.(this.podKey));
  }

  private enqueue(frames: Buffer[]): void {
    const [, seqFrame, payload] = frames;
    if (frames.length !== 3 || seqFrame === undefined || payload === undefined || seqFrame.length !== 8) {
      this.st.decodeErrors++;
      const detail =
        frames.length === 3
          ? `sequence frame of ${seqFrame?.length ?? 0} bytes, 8 expected`
          : `${frames.length} frames, 3 expected`;
      this.notify((o) => o.onDecodeError?.(this.podKey, "frames", detail));
      return;
    }
    this.liveSinceConnect++;
    this.st.received++;
    if (this.queue.push({ seq: seqFrame.readBigUInt64BE(0), payload })) {
      this.wake?.();
      return;
    }
    this.st.queueDrops++;
    if (this.st.state === "replaying") this.overflowed = true;
  }

  /** Run due replays, then decode and apply queued messages in order, yielding to the event loop now and then. */
  private async applyLoop(): Promise<void> {
    while (!this.closed) {
      const trigger = this.pending;
      if (trigger !== undefined && this.st.connected) {
        this.pending = undefined;
        await this.catchUp(trigger);
        continue;
      }
      const msg = this.queue.shift();
      if (msg === undefined) {
        const dropped = this.queue.takeDropped();
        const last = this.seq.lastSeq;
        if (dropped !== undefined && last !== undefined && dropped > last) {
          // The newest batches were dropped: no later message will reveal the gap, so recover it now.
          this.gap();
          this.pending ??= "gap";
          continue;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        this.sliceStart = performance.now();
        continue;
      }
      await this.handleLive(msg);
      await this.maybeYield();
    }
  }

  private async maybeYield(): Promise<void> {
    if (performance.now() - this.sliceStart > SLICE_MS) {
      await yieldNow();
      this.sliceStart = performance.now();
    }
  }

  /** One live batch: apply, skip, or replay first (a gap or a new engine) and then look at it again. */
  private async handleLive(msg: SeqBatch): Promise<void> {
    for (let attempt = 0; !this.closed; attempt++) {
      const verdict = this.seq.classifyLive(msg);
      if (verdict === "apply") {
        this.apply(msg);
        return;
      }
      if (verdict === "duplicate") {
        this.duplicate();
        return;
      }
      if (!this.seq.historyComplete && verdict === "gap") {
        // Already behind a failed replay (`resync-pending`): the index is best effort until the scheduled retry
        // rebuilds it, so follow the stream rather than wait a replay timeout per gap.
        this.gap();
        this.seq.forget();
        continue;
      }
      if (attempt > 0) {
        // A replay just ran and this batch still does not fit: follow the stream from it.
        if (this.seq.historyComplete) this.resync(verdict === "gap" ? "gap-uncovered" : "restart");
        else this.seq.forget();
        continue;
      }
      if (verdict === "gap") {
        this.gap();
        await this.catchUp("gap");
      } else {
        this.resync("restart");
        this.seq.restarted();
        await this.catchUp("restart");
      }
    }
  }

  /** Replay (waiting for a slot), then settle the state: `live`, or `resync-pending` with a retry scheduled. */
  private async catchUp(trigger: ReplayTrigger): Promise<void> {
    for (let t: ReplayTrigger | undefined = trigger; t !== undefined && !this.closed;) {
      this.timer.clear(); // this replay supersedes a scheduled retry or settle check
      this.st.state = "replaying";
      this.st.replays++;
      const why = t;
      this.notify((o) => o.onReplayRequest?.(this.podKey, why));
      this.overflowed = false;
      const outcome = await this.replayWithSlot();
      if (outcome === "closed") return;
      t = this.afterReplay(outcome, t);
    }
  }

  /** State after a replay; returns the replay to run next at once (a new engine's history), if any. */
  private afterReplay(outcome: ReplayResult, trigger: ReplayTrigger): ReplayTrigger | undefined {
    if (outcome === "restart") {
      this.resync("restart");
      this.seq.restarted();
      return "restart";
    }
    if (outcome === "timeout" || outcome === "failed") {
      // A pod whose history was complete loses its blocks (they may miss removals); a rebuild already pending keeps
      // what live-following gave it. Either way the stream is followed and the replay retried.
      if (this.seq.historyComplete && this.seq.hasApplied)
        this.resync(outcome === "timeout" ? "replay-timeout" : "replay-failed");
      else if (!this.seq.hasApplied) this.seq.forget(); // nothing to drop: follow the live stream from its next batch
      this.pendingRetry();
      return undefined;
    }
    if (this.overflowed) {
      this.resync("overflow");
      this.pendingRetry();
      return undefined;
    }
    this.retry.reset();
    this.st.state = this.st.connected ? "live" : "connecting";
    if ((trigger === "connect" || trigger === "reconnect") && this.liveSinceConnect === 0)
      this.timer.set("settle", this.opts.settleMs ?? 1000);
    return undefined;
  }

  private pendingRetry(): void {
    this.st.state = "resync-pending";
    this.timer.set("retry", this.retry.next());
  }

  private async replayWithSlot(): Promise<ReplayOutcome> {
    const ticket = this.slots.acquire();
    this.releaseSlot = ticket.release;
    try {
      await ticket.granted;
      if (this.closed) return "closed";
      return await this.replay();
    } finally {
      ticket.release();
      this.releaseSlot = undefined;
    }
  }

  /** Ask the replay socket for the engine's buffer from where the sequencer says, and apply it in order. */
  private async replay(): Promise<ReplayOutcome> {
    const from = this.seq.beginReplay();
    const endpoint = tcpEndpoint(this.opts.ip, this.opts.replayPort);
    const request = new ReplayRequest(endpoint, from, this.opts.replayTimeoutMs ?? 5000);
    this.replayRequest = request;
    let outcome;
    try {
      outcome = await applyReplay(this.replayHost, request, from);
    } finally {
      this.replayRequest = undefined;
      request.close();
    }
    const { result, applied } = outcome;
    if (result === "closed") return result;
    if (result === "timeout") this.st.replayTimeouts++;
    this.st.replayedBatches += applied;
    this.notify((o) => o.onReplay?.(this.podKey, result, applied));
    return result;
  }

  private gap(): void {
    this.st.gaps++;
    this.notify((o) => o.onGap?.(this.podKey));
  }

  private duplicate(): void {
    this.st.duplicates++;
    this.notify((o) => o.onDuplicate?.(this.podKey));
  }

  /** Drop the pod's blocks (counted) and follow the live stream until a replay rebuilds them. */
  private resync(reason: ResyncReason): void {
    if (this.closed) return;
    this.st.resyncs++;
    this.dropPod();
    this.seq.forget();
    this.notify((o) => o.onResync?.(this.podKey, reason));
  }

  private dropPod(): void {
    try {
      this.opts.sink.dropPod(this.podKey);
    } catch {
      this.st.sinkErrors++;
    }
  }

  /** Apply one batch and advance the sequence (also when its payload does not decode). */
  private apply(b: SeqBatch): void {
    if (this.closed) return; // never touch the sink after close(): the manager has dropped the pod
    this.seq.applied(b);
    applyBatch(this.target, b.payload);
  }
}
