/**
 * The tests' own stand-in for vLLM's `ZmqEventPublisher` (`vllm/distributed/kv_events.py`), written apart from the
 * simulator's publisher so that kvroute's KV-event tests do not rest on the simulator:
 *
 * - PUB: each batch is the 3-frame message `[topic, seq (8 bytes big-endian), payload]`, `seq` counting from 0;
 * - ROUTER (replay): a request `[identity, "", start seq (8 bytes)]` is answered with `[identity, "", seq,
 *   payload]` for every retained batch with `seq >= start`, oldest first, then `[identity, "", -1 as 8 bytes, ""]`;
 *   requests of another shape are ignored, as vLLM ignores them;
 * - the last `bufferSteps` batches are retained for replay.
 *
 * Real sockets, bound on loopback only. Test controls: set `nextSeq`, `muteReplay`, `restart()`, `reopenPub()`,
 * publish with `skip` (numbered and retained but not sent, as a PUB drop), and `probeUntil` for the ZeroMQ slow
 * joiner.
 *
 * @module
 */
import { Publisher, Router } from "zeromq";

/** Options of {@link VllmTestPublisher.start}. */
export interface VllmTestPublisherOptions {
  /** A loopback address (default 127.0.0.1). */
  readonly host?: string;
  /** Fixed ports; absent or 0 binds a free one. */
  readonly pubPort?: number;
  readonly replayPort?: number;
  /** Default `kv-events`. */
  readonly topic?: string;
  /** Batches retained for replay (vLLM `buffer_steps`, default 10 000). */
  readonly bufferSteps?: number;
}

/** 8-byte big-endian unsigned sequence frame (`seq.to_bytes(8, "big")`). */
function seqFrame(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** `(-1).to_bytes(8, "big", signed=True)`: the end of a replay. */
const END_OF_REPLAY = Buffer.alloc(8, 0xff);
/** vLLM's PUB send high-water mark (`hwm`). */
const HWM = 100_000;
const NOTHING = Buffer.alloc(0);
/** `replayRequests` keeps at most this many entries. */
const KEEP_REQUESTS = 1000;

function boundPort(endpoint: string | null): number {
  const port = Number(endpoint?.split(":").pop());
  if (!Number.isInteger(port) || port <= 0) throw new Error(`no port in ${String(endpoint)}`);
  return port;
}

/** A fake vLLM KV-event publisher for tests. */
export class VllmTestPublisher {
  /** Sequence number of the next batch. */
  nextSeq = 0n;
  /** When true, replay requests are recorded but not answered. */
  muteReplay = false;
  /** Start sequences of the replay requests received (most recent last). */
  readonly replayRequests: bigint[] = [];
  private retained: { seq: bigint; payload: Buffer }[] = [];
  /** zeromq allows one send at a time per socket. */
  private queue: Promise<unknown> = Promise.resolve();
  private readonly replayLoop: Promise<void>;

  private constructor(
    private pub: Publisher,
    private readonly router: Router,
    private readonly host: string,
    readonly pubPort: number,
    readonly replayPort: number,
    private readonly topic: Buffer,
    private readonly bufferSteps: number,
  ) {
    this.replayLoop = this.answerReplays();
  }

  /** Bind both sockets. */
  static async start(o: VllmTestPublisherOptions = {}): Promise<VllmTestPublisher> {
    const host = o.host ?? "127.0.0.1";
    if (!host.startsWith("127.")) throw new Error("tests bind loopback addresses only");
    const pub = new Publisher({ linger: 0, sendHighWaterMark: HWM });
    const router = new Router({ linger: 0 });
    try {
      await pub.bind(`tcp://${host}:${o.pubPort ?? 0}`);
      await router.bind(`tcp://${host}:${o.replayPort ?? 0}`);
    } catch (err) {
      pub.close();
      router.close();
      throw err;
    }
    const topic = Buffer.from(o.topic ?? "kv-events", "utf8");
    const ports = [boundPort(pub.lastEndpoint), boundPort(router.lastEndpoint)] as const;
    return new VllmTestPublisher(pub, router, host, ...ports, topic, o.bufferSteps ?? 10_000);
  }

  /**
   * Number, retain and send one batch; resolves with its sequence once handed to ZeroMQ. The number is taken
   * synchronously, so fire-and-forget calls keep their order.
   */
  publish(payload: Uint8Array, opts: { skip?: boolean } = {}): Promise<bigint> {
    const seq = this.nextSeq;
    this.nextSeq += 1n;
    const bytes = Buffer.from(payload);
    this.retained.push({ seq, payload: bytes });
    if (this.retained.length > this.bufferSteps) this.retained.shift();
    if (opts.skip === true) return Promise.resolve(seq);
    return this.send([this.topic, seqFrame(seq), bytes]).then(() => seq);
  }

  /** Send frames as they are on PUB (malformed-message tests). */
  sendRaw(frames: Buffer[]): Promise<void> {
    return this.send(frames);
  }

  /** An engine restart: numbering from 0 and nothing retained. */
  restart(): void {
    this.nextSeq = 0n;
    this.retained = [];
  }

  /**
   * Drop the PUB socket (subscribers lose their connection) and bind a new one on the same port; numbering and
   * the retained batches carry over, as the engine is the same. `whileClosed` runs in between.
   */
  async reopenPub(whileClosed: () => Promise<void> | void = () => undefined): Promise<void> {
    await this.queue;
    this.pub.close();
    await whileClosed();
    // The port may linger briefly after close: retry a bounded number of times.
    for (let attempt = 0; attempt < 50; attempt++) {
      const pub = new Publisher({ linger: 0, sendHighWaterMark: HWM });
      try {
        await pub.bind(`tcp://${this.host}:${this.pubPort}`);
        this.pub = pub;
        return;
      } catch {
        pub.close();
        await new Promise((r) => setTimeout(r, 20));
      }
    }
    throw new Error(`could not rebind PUB on ${this.host}:${this.pubPort}`);
  }

  /**
   * Publish `payload` until `arrived()` holds: a SUB loses whatever is sent before its subscription reaches the
   * PUB (the ZeroMQ slow joiner), and no event tells the publisher when that happened.
   */
  async probeUntil(payload: Uint8Array, arrived: () => boolean, timeoutMs = 5000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!arrived()) {
      if (Date.now() > deadline) throw new Error("subscription never became live");
      await this.publish(payload);
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /** Close both sockets. */
  async close(): Promise<void> {
    await this.queue;
    this.pub.close();
    this.router.close();
    await this.replayLoop;
  }

  private send(frames: Buffer[]): Promise<void> {
    const sent = this.queue.then(() => this.pub.send(frames));
    this.queue = sent.catch(() => undefined);
    return sent;
  }

  private async answerReplays(): Promise<void> {
    try {
      for await (const msg of this.router) {
        const [identity, , start] = msg;
        if (msg.length !== 3 || identity === undefined || start?.length !== 8) continue;
        const from = start.readBigUInt64BE(0);
        this.replayRequests.push(from);
        if (this.replayRequests.length > KEEP_REQUESTS) this.replayRequests.shift();
        if (this.muteReplay) continue;
        for (const b of this.retained.filter((r) => r.seq >= from))
          await this.router.send([identity, NOTHING, seqFrame(b.seq), b.payload]);
        await this.router.send([identity, NOTHING, END_OF_REPLAY, NOTHING]);
      }
    } catch {
      // The socket closed while receiving or sending.
    }
  }
}
