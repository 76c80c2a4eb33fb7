/**
 * vLLM's `ZmqEventPublisher` (`vllm/distributed/kv_events.py`): a bound PUB socket sending 3-frame messages
 * `[topic, seq8, payload]` with a sequence counter starting at 0, a bounded ring buffer of the last
 * `bufferSteps` batches, and a bound ROUTER socket answering replay requests `[id, "", start_seq8]` with
 * `[id, "", seq8, payload]`… then `[id, "", END_SEQ, ""]`. Requests that are not exactly 3 frames are ignored,
 * as vLLM ignores them.
 *
 * Used by the simulated pods and the KV-ingest benchmarks (kvroute's own tests have their own publisher in
 * `test/support/vllm-publisher.ts`, so they do not rest on the simulator).
 *
 * @module
 */
import { Publisher, Router } from "zeromq";
import { DEFAULT_TOPIC, END_SEQ, seq8 } from "./kv-wire";

const EMPTY = Buffer.alloc(0);
/** How many replay start sequences {@link KvEventPublisher.replayRequests} keeps (a long-running pod must not grow). */
const MAX_RECORDED_REQUESTS = 1000;

/** Options of {@link KvEventPublisher.start}. */
export interface KvPublisherOptions {
  /** Host to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Replay buffer size in batches (vLLM `buffer_steps`, default 10 000). */
  readonly bufferSteps?: number;
  /** Topic (default `kv-events`). */
  readonly topic?: string;
  /** Fixed ports (default: any free port). */
  readonly pubPort?: number;
  readonly replayPort?: number;
  /** PUB send high-water mark (vLLM `hwm`, default 100 000). */
  readonly hwm?: number;
}

/** Bound sockets, handed from {@link KvEventPublisher.bind} to the constructor. */
export interface BoundSockets {
  readonly pub: Publisher;
  readonly router: Router;
  readonly pubPort: number;
  readonly replayPort: number;
  readonly topic: Buffer;
  readonly bufferSteps: number;
  readonly host: string;
  readonly hwm: number;
}

/** The publisher of one engine. */
export class KvEventPublisher {
  /** Next sequence number (vLLM's `itertools.count()`). Tests may set it to fake a long-running engine. */
  nextSeq = 0n;
  /** When true, replay requests are read but never answered (to provoke timeouts in tests). */
  muteReplay = false;
  /** Replay requests received (each as its start sequence), the most recent ones. */
  readonly replayRequests: bigint[] = [];
  readonly pubPort: number;
  readonly replayPort: number;
  private pub: Publisher;
  private readonly host: string;
  private readonly hwm: number;
  private readonly router: Router;
  private readonly topic: Buffer;
  private readonly bufferSteps: number;
  /** Ring buffer of the last `bufferSteps` batches; `ringStart` is the index of the oldest. */
  private ring: { seq: bigint; payload: Buffer }[] = [];
  private ringStart = 0;
  /** zeromq allows one send in flight per socket, and the engine publishes from synchronous callbacks. */
  private sending: Promise<void> = Promise.resolve();
  private readonly serving: Promise<void>;

  protected constructor(s: BoundSockets) {
    this.pub = s.pub;
    this.router = s.router;
    this.pubPort = s.pubPort;
    this.replayPort = s.replayPort;
    this.topic = s.topic;
    this.bufferSteps = s.bufferSteps;
    this.host = s.host;
    this.hwm = s.hwm;
    this.serving = this.serveReplay();
  }

  /** Bind both sockets (for subclasses that construct themselves). */
  protected static async bind(opts: KvPublisherOptions): Promise<BoundSockets> {
    const host = opts.host ?? "127.0.0.1";
    const hwm = opts.hwm ?? 100_000;
    const pub = new Publisher({ linger: 0, sendHighWaterMark: hwm });
    const router = new Router({ linger: 0 });
    try {
      await pub.bind(`tcp://${host}:${opts.pubPort ?? 0}`);
      await router.bind(`tcp://${host}:${opts.replayPort ?? 0}`);
    } catch (err) {
      pub.close();
      router.close();
      throw err;
    }
    const port = (s: Publisher | Router): number => Number(/:(\d+)$/.exec(s.lastEndpoint ?? "")?.[1]);
    return {
      pub,
      router,
      pubPort: port(pub),
      replayPort: port(router),
      topic: Buffer.from(opts.topic ?? DEFAULT_TOPIC, "utf8"),
      bufferSteps: opts.bufferSteps ?? 10_000,
      host,
      hwm,
    };
  }

  /** Bind both sockets and start answering replay requests. */
  static async start(opts: KvPublisherOptions = {}): Promise<KvEventPublisher> {
    return new KvEventPublisher(await KvEventPublisher.bind(opts));
  }

  /**
   * Publish one batch with the next sequence number; the number is taken and the batch buffered synchronously,
   * so callers may fire and forget. With `skip`, the batch is numbered and buffered for replay but not sent (as
   * if PUB dropped it for this subscriber at its high-water mark). Resolves once handed to ZeroMQ.
   */
  publish(payload: Uint8Array, opts: { skip?: boolean } = {}): Promise<bigint> {
    const seq = this.nextSeq++;
    const buf = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
    this.remember(seq, buf);
    if (opts.skip === true) return Promise.resolve(seq);
    return this.enqueue([this.topic, seq8(seq), buf]).then(() => seq);
  }

  /** Send raw frames on the PUB socket (no sequence, no buffering). */
  sendRaw(frames: Buffer[]): Promise<void> {
    return this.enqueue(frames);
  }

  /** Simulate an engine restart: the sequence restarts at 0 and the replay buffer is empty. */
  restart(): void {
    this.nextSeq = 0n;
    this.ring = [];
    this.ringStart = 0;
  }

  /**
   * Close the PUB socket and bind a new one on the same port, keeping the sequence and the replay buffer: the
   * subscribers' TCP connections drop as in a network blip, and the engine is still the same one. Batches published
   * while it is closed are buffered (pass `skip`) and only reachable by replay.
   */
  async reopenPub(whileClosed: () => Promise<void> | void = () => undefined): Promise<void> {
    await this.sending;
    const port = this.pubPort;
    this.pub.close();
    await whileClosed();
    // The port can stay taken for a moment after close; a bounded number of retries.
    for (let attempt = 0; ; attempt++) {
      const pub = new Publisher({ linger: 0, sendHighWaterMark: this.hwm });
      try {
        await pub.bind(`tcp://${this.host}:${port}`);
        this.pub = pub;
        return;
      } catch (err) {
        pub.close();
        if (attempt >= 50) throw err;
        await new Promise((r) => setTimeout(r, 20));
      }
    }
  }

  /** Close both sockets. */
  async close(): Promise<void> {
    await this.sending;
    this.pub.close();
    this.router.close();
    await this.serving;
  }

  private remember(seq: bigint, payload: Buffer): void {
    if (this.ring.length < this.bufferSteps) {
      this.ring.push({ seq, payload });
      return;
    }
    this.ring[this.ringStart] = { seq, payload };
    this.ringStart = (this.ringStart + 1) % this.ring.length;
  }

  /** Buffered batches with `seq >= from`, oldest first (a snapshot: publishing during a replay is safe). */
  private buffered(from: bigint): { seq: bigint; payload: Buffer }[] {
    const out: { seq: bigint; payload: Buffer }[] = [];
    for (let i = 0; i < this.ring.length; i++) {
      const b = this.ring[(this.ringStart + i) % this.ring.length];
      if (b !== undefined && b.seq >= from) out.push(b);
    }
    return out;
  }

  private enqueue(frames: Buffer[]): Promise<void> {
    const next = this.sending.then(() => this.pub.send(frames));
    // A failed send (socket closed) must not wedge later sends; the caller still sees the rejection.
    this.sending = next.catch(() => undefined);
    return next;
  }

  private async serveReplay(): Promise<void> {
    try {
      for await (const frames of this.router) {
        const [id, , start] = frames;
        if (frames.length !== 3 || id === undefined || start === undefined || start.length !== 8) continue;
        const from = start.readBigUInt64BE(0);
        this.replayRequests.push(from);
        if (this.replayRequests.length > MAX_RECORDED_REQUESTS) this.replayRequests.shift();
        if (this.muteReplay) continue;
        for (const b of this.buffered(from)) await this.router.send([id, EMPTY, seq8(b.seq), b.payload]);
        await this.router.send([id, EMPTY, END_SEQ, EMPTY]);
      }
    } catch {
      // Closed while receiving or sending: the publisher is shutting down.
    }
  }
}
