/**
 * A stand-in for vLLM's `ZmqEventPublisher` (wire-protocols.md A2/A3): binds a PUB and a ROUTER socket, sends
 * 3-frame messages `[topic, seq8, payload]` with its own sequence counter, keeps a bounded replay buffer, and
 * answers DEALER replay requests exactly as vLLM does (`[id, "", seq8, payload]`… then `[id, "", END_SEQ, ""]`;
 * requests that are not 3 frames are ignored).
 *
 * @module
 */
import { Publisher, Router } from "zeromq";
import fixture from "./fixtures/vllm-kv-events-frames.json";

/** Fixture layouts. */
export type Layout = keyof typeof fixture.variants;
export const LAYOUTS = Object.keys(fixture.variants) as Layout[];

/** One fixture frame as bytes. */
export interface FixtureFrame {
  readonly topic: Buffer;
  readonly seq: Buffer;
  readonly payload: Buffer;
}

/** The five byte-exact frames of a layout. */
export function fixtureFrames(layout: Layout): FixtureFrame[] {
  return fixture.variants[layout].frames.map((f) => ({
    topic: Buffer.from(f.topic_hex, "hex"),
    seq: Buffer.from(f.seq_hex, "hex"),
    payload: Buffer.from(f.payload_hex, "hex"),
  }));
}

/** The fixture's replay exchange of a layout (request frames and DEALER-side replies, as bytes). */
export function fixtureReplay(layout: Layout): { request: Buffer[]; replies: Buffer[][] } {
  const r = fixture.variants[layout].replay;
  return {
    request: r.dealer_request_frames_hex.map((h) => Buffer.from(h, "hex")),
    replies: r.dealer_replies_hex.map((m) => m.map((h) => Buffer.from(h, "hex"))),
  };
}

export { fixture };

const END_SEQ = Buffer.from("ffffffffffffffff", "hex");
const EMPTY = Buffer.alloc(0);

function seq8(n: bigint): Buffer {
  const b = Buffer.alloc(8);
  b.writeBigUInt64BE(n);
  return b;
}

/** Options of {@link FakeVllmPublisher.start}. */
export interface FakePublisherOptions {
  /** Host to bind (default 127.0.0.1). */
  readonly host?: string;
  /** Replay buffer size in batches (vLLM `buffer_steps`, default 10 000). */
  readonly bufferSteps?: number;
  /** Topic (default `kv-events`). */
  readonly topic?: string;
  /** Fixed ports (default: random). */
  readonly pubPort?: number;
  readonly replayPort?: number;
}

/** The fake engine publisher. */
export class FakeVllmPublisher {
  /** Next sequence number (vLLM's `itertools.count()`). */
  nextSeq = 0n;
  /** When true, replay requests are read but never answered (to provoke timeouts). */
  muteReplay = false;
  /** Replay requests received (each as its start sequence). */
  readonly replayRequests: bigint[] = [];
  private buffer: { seq: bigint; payload: Buffer }[] = [];
  private readonly serving: Promise<void>;

  private constructor(
    private readonly pub: Publisher,
    private readonly router: Router,
    readonly pubPort: number,
    readonly replayPort: number,
    private readonly topic: Buffer,
    private readonly bufferSteps: number,
  ) {
    this.serving = this.serveReplay();
  }

  /** Bind both sockets. */
  static async start(opts: FakePublisherOptions = {}): Promise<FakeVllmPublisher> {
    const host = opts.host ?? "127.0.0.1";
    const pub = new Publisher({ linger: 0 });
    const router = new Router({ linger: 0 });
    await pub.bind(`tcp://${host}:${opts.pubPort ?? 0}`);
    await router.bind(`tcp://${host}:${opts.replayPort ?? 0}`);
    const port = (s: Publisher | Router): number => Number(/:(\d+)$/.exec(s.lastEndpoint ?? "")?.[1]);
    return new FakeVllmPublisher(
      pub,
      router,
      port(pub),
      port(router),
      Buffer.from(opts.topic ?? "kv-events", "utf8"),
      opts.bufferSteps ?? 10_000,
    );
  }

  /**
   * Publish one batch with the next sequence number. With `skip`, the batch is numbered and buffered for replay
   * but not sent (as if PUB dropped it for this subscriber at its high-water mark).
   */
  async publish(payload: Uint8Array, opts: { skip?: boolean } = {}): Promise<bigint> {
    const seq = this.nextSeq++;
    const buf = Buffer.from(payload);
    this.buffer.push({ seq, payload: buf });
    if (this.buffer.length > this.bufferSteps) this.buffer.shift();
    if (!opts.skip) await this.pub.send([this.topic, seq8(seq), buf]);
    return seq;
  }

  /** Send raw frames on the PUB socket (no sequence, no buffering). */
  async sendRaw(frames: Buffer[]): Promise<void> {
    await this.pub.send(frames);
  }

  /** Simulate an engine restart: the sequence restarts at 0 and the replay buffer is empty. */
  restart(): void {
    this.nextSeq = 0n;
    this.buffer = [];
  }

  /**
   * Publish `payload` repeatedly until `arrived()` turns true (ZeroMQ slow joiner: the first messages after a
   * SUB connects are lost). Rejects after `timeoutMs`.
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
    this.pub.close();
    this.router.close();
    await this.serving;
  }

  private async serveReplay(): Promise<void> {
    try {
      for await (const frames of this.router) {
        const [id, , start] = frames;
        if (frames.length !== 3 || id === undefined || start === undefined || start.length !== 8) continue;
        const from = start.readBigUInt64BE(0);
        this.replayRequests.push(from);
        if (this.muteReplay) continue;
        for (const b of this.buffer) {
          if (b.seq >= from) await this.router.send([id, EMPTY, seq8(b.seq), b.payload]);
        }
        await this.router.send([id, EMPTY, END_SEQ, EMPTY]);
      }
    } catch {
      // Closed while sending.
    }
  }
}
