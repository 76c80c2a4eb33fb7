/**
 * One pod's KV-event stream: a ZeroMQ SUB socket on the engine's PUB endpoint, sequence tracking, and gap
 * recovery through the engine's ROUTER replay socket (wire-protocols.md A2/A3).
 *
 * Unlike AIBrix (aibrix-gateway.md §6.2), gaps are acted on: the missing batches are replayed over a DEALER
 * (`["", seq8]`, answers up to the `END_SEQ` marker, bounded by a timeout) and applied in order. When replay
 * cannot cover the gap, the engine restarted (sequence went backwards), or the bounded queue overflowed during a
 * replay, the pod's index is dropped (`sink.dropPod`) and the stream continues from the live position.
 *
 * Two loops share a bounded queue: the receive loop pulls frames off the socket, the apply loop decodes and
 * applies them, yielding to the event loop every few milliseconds so a slow sink fills the queue instead of
 * libzmq's buffers. Drops at the bound are counted and recovered like any gap: by the next message's sequence,
 * or, when the dropped batches were the newest ones, as soon as the queue drains.
 *
 * Restarts: vLLM sends no epoch, so a restart shows either as the sequence going backwards or only as the TCP
 * connection dropping and coming back (a restarted engine may already be past the old sequence). Both drop the
 * pod's entries and resync: a network blip costs a rebuild of that pod's index, never stale entries. After a
 * resync the subscriber accepts the live stream; it does not ask the new engine to replay from 0.
 *
 * @module
 */
import { setImmediate as yieldNow } from "node:timers/promises";
import { Subscriber } from "zeromq";
import type { KvEventSink } from "../prefix/prefix-index";
import { decodeBatch, isDecodeError } from "./decode";
import { ReplayFailure, ReplayRequest, tcpEndpoint } from "./replay";
import type { SeqBatch } from "./replay";
import type { EventFilter, KvEventsObserver, PodStatus, ResyncReason } from "./types";
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
  /** Which events reach the sink (default {@link gpuGroupZero}). */
  readonly filter?: EventFilter;
}

/** One received batch. */
type Message = SeqBatch;

type Mutable<T> = { -readonly [K in keyof T]: T[K] };

/** Outcome of a replay, internal. */
type ReplayOutcome = "ok" | "closed" | Exclude<ResyncReason, "restart" | "overflow">;

const SLICE_MS = 4;

/** A subscription to one pod's KV events. Starts on construction; `close()` stops it. */
export class PodSubscriber {
  readonly podKey: string;
  private readonly opts: PodSubscriberOptions;
  private readonly st: Mutable<PodStatus> = {
    lastSeq: undefined,
    events: 0,
    gaps: 0,
    replays: 0,
    resyncs: 0,
    decodeErrors: 0,
    unknownTags: 0,
    filtered: 0,
    queueDrops: 0,
    queued: 0,
    duplicates: 0,
    socketErrors: 0,
    sinkErrors: 0,
    connected: false,
    replaying: false,
  };
  private readonly queue: Message[] = [];
  private head = 0;
  private closed = false;
  private sub: Subscriber | undefined;
  private replayRequest: ReplayRequest | undefined;
  private wake: (() => void) | undefined;
  private cancelSleep: (() => void) | undefined;
  private overflowed = false;
  /** The TCP connection dropped since the last `connect`: the next `connect` must resync. */
  private lostConnection = false;
  /** Highest sequence dropped on queue overflow: a known gap even if no later message arrives. */
  private droppedUpTo: bigint | undefined;
  /** Sequence range covered by the last replay: live copies of these batches are duplicates. */
  private dupWindow: { from: bigint; to: bigint } | undefined;
  private readonly done: Promise<void>;

  constructor(opts: PodSubscriberOptions) {
    this.opts = opts;
    this.podKey = opts.podKey;
    this.done = Promise.all([this.receiveLoop(), this.applyLoop()]).then(() => undefined);
  }

  /** A snapshot of the counters. */
  status(): PodStatus {
    return { ...this.st, queued: this.queue.length - this.head };
  }

  /** Connected and not behind a gap: the pod's event index can be trusted. */
  publishing(): boolean {
    return !this.closed && this.st.connected && !this.st.replaying;
  }

  /** Stop both loops and close the sockets. Does not touch the sink. */
  async close(): Promise<void> {
    if (this.closed) return this.done;
    this.closed = true;
    this.st.connected = false;
    this.sub?.close();
    this.replayRequest?.close();
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
        this.st.connected = false;
      }
      if (this.closed) break;
      await this.sleep(backoff);
      backoff = Math.min(backoff * 2, maxMs);
    }
  }

  /** Track the socket's TCP connection state from its event observer. */
  private async watchConnection(sub: Subscriber): Promise<void> {
    try {
      for await (const ev of sub.events) {
        if (ev.type === "connect") {
          this.st.connected = true;
          this.notify((o) => o.onConnect?.(this.podKey));
          if (this.lostConnection) {
            this.lostConnection = false;
            this.resync("reconnect");
          }
        } else if (ev.type === "disconnect") {
          this.st.connected = false;
          this.lostConnection = true;
        }
      }
    } catch {
      // The observer ends with its socket.
    }
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

  private enqueue(frames: Buffer[]): void {
    const [, seqFrame, payload] = frames;
    if (frames.length !== 3 || seqFrame === undefined || payload === undefined || seqFrame.length !== 8) {
      this.st.decodeErrors++;
      this.notify((o) => o.onDecodeError?.(this.podKey, "frames"));
      return;
    }
    const seq = seqFrame.readBigUInt64BE(0);
    if (this.queue.length - this.head >= (this.opts.queueLimit ?? 10_000)) {
      this.st.queueDrops++;
      if (this.st.replaying) this.overflowed = true;
      this.droppedUpTo = seq;
      return;
    }
    this.queue.push({ seq, payload });
    this.wake?.();
  }

  private dequeue(): Message | undefined {
    if (this.head >= this.queue.length) return undefined;
    const m = this.queue[this.head++];
    if (this.head > 1024 && this.head * 2 > this.queue.length) {
      this.queue.splice(0, this.head);
      this.head = 0;
    }
    return m;
  }

  /** Decode and apply queued messages in order, yielding to the event loop every few milliseconds. */
  private async applyLoop(): Promise<void> {
    let sliceStart = performance.now();
    while (!this.closed) {
      const msg = this.dequeue();
      if (msg === undefined) {
        const dropped = this.droppedUpTo;
        this.droppedUpTo = undefined;
        const last = this.st.lastSeq;
        if (dropped !== undefined && last !== undefined && dropped > last) {
          // The newest batches were dropped: no later message will reveal the gap, so recover it now.
          await this.recover(last + 1n, undefined);
          continue;
        }
        await new Promise<void>((resolve) => (this.wake = resolve));
        this.wake = undefined;
        sliceStart = performance.now();
        continue;
      }
      const recovering = this.handle(msg); // synchronous unless a gap needs a replay
      if (recovering) await recovering;
      if (performance.now() - sliceStart > SLICE_MS) {
        await yieldNow();
        sliceStart = performance.now();
      }
    }
  }

  /** Sequence tracking for one live message; returns a promise only when a gap is being recovered. */
  private handle(msg: Message): Promise<void> | undefined {
    const last = this.st.lastSeq;
    const win = this.dupWindow;
    if (win !== undefined) {
      if (msg.seq >= win.from && msg.seq <= win.to) {
        this.st.duplicates++;
        return undefined;
      }
      if (msg.seq > win.to) this.dupWindow = undefined;
    }
    if (last === undefined || msg.seq === last + 1n) {
      this.apply(msg);
    } else if (msg.seq > last + 1n) {
      return this.recover(last + 1n, msg);
    } else {
      this.resync("restart");
      this.apply(msg);
    }
    return undefined;
  }

  /** A gap before `trigger` (or before the dropped tail): replay from `from`, or resync when that fails. */
  private async recover(from: bigint, trigger: Message | undefined): Promise<void> {
    this.st.gaps++;
    this.notify((o) => o.onGap?.(this.podKey));
    this.st.replaying = true;
    this.st.replays++;
    this.overflowed = false;
    const outcome = await this.replay(from);
    this.st.replaying = false;
    if (outcome === "closed") return;
    this.notify((o) => o.onReplay?.(this.podKey, outcome === "ok"));
    if (outcome !== "ok" && outcome !== "gap-uncovered") this.resync(outcome);
    if (this.overflowed) this.resync("overflow");
    if (trigger === undefined) return;
    const last = this.st.lastSeq;
    if (last === undefined || trigger.seq === last + 1n) this.apply(trigger);
    else if (trigger.seq <= last) this.st.duplicates++;
    else await this.handle(trigger);
  }

  /**
   * Ask the replay socket for everything from `from` and apply it in order. An uncovered start resyncs at once
   * and still applies the (contiguous) tail.
   */
  private async replay(from: bigint): Promise<ReplayOutcome> {
    const endpoint = tcpEndpoint(this.opts.ip, this.opts.replayPort);
    const request = new ReplayRequest(endpoint, from, this.opts.replayTimeoutMs ?? 5000);
    this.replayRequest = request;
    let outcome: ReplayOutcome = "ok";
    let first: bigint | undefined;
    try {
      for await (const { seq, payload } of request.batches()) {
        if (this.closed) return "closed";
        if (first === undefined) {
          first = seq;
          if (seq > from) {
            outcome = "gap-uncovered";
            this.resync("gap-uncovered");
          }
        }
        const last = this.st.lastSeq;
        if (last !== undefined && seq <= last) continue;
        if (last !== undefined && seq !== last + 1n) return "replay-failed";
        this.apply({ seq, payload });
      }
      if (first === undefined) {
        // Only the end marker: nothing at or after `from` is buffered, though a later batch exists.
        this.resync("gap-uncovered");
        return "gap-uncovered";
      }
      this.dupWindow = { from: first, to: this.st.lastSeq ?? first };
      return outcome;
    } catch (err) {
      if (this.closed) return "closed";
      return err instanceof ReplayFailure ? err.reason : "replay-failed";
    } finally {
      this.replayRequest = undefined;
      request.close();
    }
  }

  /** Drop the pod's index and forget the sequence: the next message is accepted as the first. */
  private resync(reason: ResyncReason): void {
    if (this.closed) return;
    this.st.resyncs++;
    this.st.lastSeq = undefined;
    this.dupWindow = undefined;
    try {
      this.opts.sink.dropPod(this.podKey);
    } catch {
      this.st.sinkErrors++;
    }
    this.notify((o) => o.onResync?.(this.podKey, reason));
  }

  /** Decode one batch and apply its events to the sink. The sequence advances even when decoding fails. */
  private apply(msg: Message): void {
    if (this.closed) return; // never touch the sink after close(): the manager has dropped the pod
    this.st.lastSeq = msg.seq;
    const batch = decodeBatch(msg.payload);
    if (isDecodeError(batch)) {
      this.st.decodeErrors++;
      this.notify((o) => o.onDecodeError?.(this.podKey, batch.reason));
      return;
    }
    this.st.unknownTags += batch.unknownTags;
    const { sink, filter = gpuGroupZero } = this.opts;
    for (const ev of batch.events) {
      if (!filter(ev)) {
        this.st.filtered++;
        continue;
      }
      try {
        if (ev.tag === "BlockStored") {
          sink.blockStored(this.podKey, {
            blockHashes: ev.blockHashes,
            parentBlockHash: ev.parentBlockHash,
            tokenIds: ev.tokenIds,
            blockSize: ev.blockSize,
            loraName: ev.loraName,
          });
        } else if (ev.tag === "BlockRemoved") {
          sink.blockRemoved(this.podKey, ev.blockHashes);
        } else {
          sink.allBlocksCleared(this.podKey);
        }
      } catch {
        this.st.sinkErrors++;
        continue;
      }
      this.st.events++;
      this.notify((o) => o.onEvent?.(this.podKey, ev.tag));
    }
  }
}
