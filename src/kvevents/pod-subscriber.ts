/**
 * One pod's KV-event stream: a ZeroMQ SUB socket on the engine's PUB endpoint, and the engine's ROUTER replay
 * socket (wire-protocols.md A2/A3) for everything the live stream did not deliver.
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
 * Two loops share the queue: the receive loop pulls frames off the socket, the apply loop decodes and applies them,
 * yielding to the event loop every few milliseconds so a slow sink fills the queue instead of libzmq's buffers.
 *
 * @module
 */
import { setImmediate as yieldNow } from "node:timers/promises";
import { Subscriber } from "zeromq";
import type { KvEventSink } from "../prefix/prefix-index";
import { applyBatch } from "./apply-batch";
import type { ApplyTarget } from "./apply-batch";
import { ReplayFailure, ReplayRequest, tcpEndpoint } from "./replay";
import type { SeqBatch } from "./replay";
import { ReplaySlots, RetryBackoff } from "./replay-slots";
import { StreamSequencer } from "./sequencer";
import type {
  EventFilter,
  KvEventsObserver,
  PodStatus,
  ReplayResult,
  ReplayTrigger,
  ResyncReason,
} from "./types";
import { gpuGroupZero, socketFailure } from "./types";

/** Options of one {@link PodSubscriber}. */
export interface PodSubscriberOptions {
  readonly podKey: string;
  /** Pod IP (IPv6 allowed) or host name. */
  readonly ip: string;
  /** PUB port of this pod's engine (base port + data-parallel rank). */
  readonly pubPort: number;
  /** ROUTER replay port (base replay port + data-parallel rank). */
  readonly replayPort: number;
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

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** A replay's outcome, or the subscriber closed under it. */
type ReplayOutcome = ReplayResult | "closed";

const SLICE_MS = 4;

/** A subscription to one pod's KV events. Starts on construction; `close()` stops it. */
export class PodSubscriber {
  readonly podKey: string;
  private readonly opts: PodSubscriberOptions;
  private readonly st: Mutable<Omit<PodStatus, "lastSeq" | "queued" | "replaying" | "retryInMs">> = {
    events: 0,
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
    connected: false,
    state: "connecting",
  };
  private readonly seq = new StreamSequencer();
  private readonly target: ApplyTarget;
  private readonly slots: ReplaySlots;
  private readonly retry: RetryBackoff;
  private readonly queue: SeqBatch[] = [];
  private head = 0;
  private closed = false;
  private sub: Subscriber | undefined;
  private replayRequest: ReplayRequest | undefined;
  private releaseSlot: (() => void) | undefined;
  private wake: (() => void) | undefined;
  private cancelSleep: (() => void) | undefined;
  /** A replay to run before the next live batch (set by connect events and timers). */
  private pending: ReplayTrigger | undefined;
  private timer: { handle: NodeJS.Timeout; dueAt: number; retry: boolean } | undefined;
  private overflowed = false;
  /** The TCP connection dropped since the last connect: the next connect is a reconnect. */
  private lostConnection = false;
  /** Live batches received since the last connect (0 after a connect: a `settle` replay is due). */
  private liveSinceConnect = 0;
  /** Highest sequence dropped on queue overflow: a known gap even if no later message arrives. */
  private droppedUpTo: bigint | undefined;
  private sliceStart = performance.now();
  private readonly done: Promise<void>;

  constructor(opts: PodSubscriberOptions) {
    this.opts = opts;
    this.podKey = opts.podKey;
    this.slots = opts.replaySlots ?? new ReplaySlots(4);
    const rb = opts.retryBackoff ?? { initialMs: 1000, maxMs: 30_000 };
    this.retry = new RetryBackoff(rb.initialMs, rb.maxMs);
    this.target = {
      podKey: opts.podKey,
      sink: opts.sink,
      filter: opts.filter ?? gpuGroupZero,
      counters: this.st,
      notify: (fn) => this.notify(fn),
    };
    this.done = Promise.all([this.receiveLoop(), this.applyLoop()]).then(() => undefined);
  }

  /** A snapshot of the counters. */
  status(): PodStatus {
    const t = this.timer;
    return {
      ...this.st,
      lastSeq: this.seq.lastSeq,
      queued: this.queue.length - this.head,
      replaying: this.st.state === "replaying",
      retryInMs: t?.retry === true ? Math.max(0, Math.round(t.dueAt - performance.now())) : undefined,
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
    this.clearTimer();
    this.sub?.close();
    this.replayRequest?.close();
    this.releaseSlot?.();
    this.cancelSleep?.();
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

  /** Pull messages off the SUB socket into the queue; reconnect with backoff on socket failures. */
  private async receiveLoop(): Promise<void> {
    const { initialMs, maxMs } = this.opts.backoff ?? { initialMs: 100, maxMs: 10_000 };
    let backoff = initialMs;
    const endpoint = tcpEndpoint(this.opts.ip, this.opts.pubPort);
    while (!this.closed) {
      const sub = new Subscriber({ linger: 0, ipv6: this.opts.ip.includes(":") });
      this.sub = sub;
      void this.watchConnection(sub);
      try {
        sub.connect(endpoint);
        sub.subscribe();
        for await (const frames of sub) {
          backoff = initialMs;
          this.enqueue(frames);
        }
      } catch (err) {
        if (!this.closed) {
          this.st.socketErrors++;
          const failure = socketFailure(err);
          this.notify((o) => o.onSocketError?.(this.podKey, failure));
        }
      } finally {
        if (!sub.closed) sub.close();
        this.disconnected();
      }
      if (this.closed) break;
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, maxMs);
    }
  }

  /** Track the socket's TCP connection state; every connect asks for a replay before the next live batch. */
  private async watchConnection(sub: Subscriber): Promise<void> {
    try {
      for await (const ev of sub.events) {
        if (ev.type === "connect") {
          this.st.connected = true;
          this.notify((o) => o.onConnect?.(this.podKey));
          this.pending = this.lostConnection ? "reconnect" : "connect";
          this.lostConnection = false;
          this.liveSinceConnect = 0;
          this.wake?.();
        } else if (ev.type === "disconnect") {
          this.disconnected();
        }
      }
    } catch {
      // The observer ends with its socket.
    }
  }

  private disconnected(): void {
    if (!this.st.connected) return;
    this.st.connected = false;
    this.lostConnection = true;
    if (this.st.state !== "resync-pending") this.st.state = "connecting";
  }

  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => {
      const t = setTimeout(done, ms);
      function done(): void {
        clearTimeout(t);
        resolve();
      }
      this.cancelSleep = done;
    });
  }

  /** Run `trigger`'s replay after `ms` (a retry, or the one `settle` check); replaces a timer already set. */
  private schedule(trigger: "retry" | "settle", ms: number): void {
    this.clearTimer();
    const handle = setTimeout(() => {
      this.timer = undefined;
      if (trigger === "settle" && this.liveSinceConnect > 0) return;
      this.pending ??= trigger;
      this.wake?.();
    }, ms);
    handle.unref();
    this.timer = { handle, dueAt: performance.now() + ms, retry: trigger === "retry" };
  }

  private clearTimer(): void {
    if (this.timer) clearTimeout(this.timer.handle);
    this.timer = undefined;
  }

  private enqueue(frames: Buffer[]): void {
    const [, seqFrame, payload] = frames;
    if (frames.length !== 3 || seqFrame === undefined || payload === undefined || seqFrame.length !== 8) {
      this.st.decodeErrors++;
      this.notify((o) => o.onDecodeError?.(this.podKey, "frames"));
      return;
    }
    this.liveSinceConnect++;
    const seq = seqFrame.readBigUInt64BE(0);
    if (this.queue.length - this.head >= (this.opts.queueLimit ?? 10_000)) {
      this.st.queueDrops++;
      if (this.st.state === "replaying") this.overflowed = true;
      this.droppedUpTo = seq;
      return;
    }
    this.queue.push({ seq, payload });
    this.wake?.();
  }

  private dequeue(): SeqBatch | undefined {
    if (this.head >= this.queue.length) return undefined;
    const m = this.queue[this.head++];
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return m;
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
      const msg = this.dequeue();
      if (msg === undefined) {
        const dropped = this.droppedUpTo;
        this.droppedUpTo = undefined;
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
      if (attempt > 0) {
        // A replay just ran and this batch still does not fit: follow the stream from it.
        this.resync(verdict === "gap" ? "gap-uncovered" : "restart");
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
      this.clearTimer(); // this replay supersedes a scheduled retry or settle check
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
      this.schedule("settle", this.opts.settleMs ?? 1000);
    return undefined;
  }

  private pendingRetry(): void {
    this.st.state = "resync-pending";
    this.schedule("retry", this.retry.next());
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
    let applied = 0;
    let result: ReplayResult;
    try {
      result = "ok";
      for await (const b of request.batches()) {
        if (this.closed) return "closed";
        const verdict = this.seq.classifyReplayed(b);
        if (verdict === "restart" || verdict === "broken") {
          result = verdict === "restart" ? "restart" : "failed";
          break;
        }
        if (verdict === "duplicate") {
          if (b.seq !== from) this.duplicate(); // the anchor coming back is the continuity proof, not a duplicate
          continue;
        }
        if (verdict === "uncovered") this.resync("gap-uncovered");
        else if (verdict === "rebuild") this.dropPod();
        if (verdict !== "apply") this.seq.droppedForReplay();
        this.apply(b);
        applied++;
        await this.maybeYield();
      }
      if (result === "ok") result = this.seq.endReplay();
      else this.seq.abortReplay();
    } catch (err) {
      if (this.closed) return "closed";
      this.seq.abortReplay();
      result = err instanceof ReplayFailure && err.reason === "replay-timeout" ? "timeout" : "failed";
    } finally {
      this.replayRequest = undefined;
      request.close();
    }
    if (result === "timeout") this.st.replayTimeouts++;
    this.st.replayedBatches += applied;
    const r = result;
    this.notify((o) => o.onReplay?.(this.podKey, r, applied));
    return r;
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
