/**
 * A stand-in for vLLM's `ZmqEventPublisher` for tests: the simulator's own publisher
 * (`src/sim/server/kv-publisher.ts`: PUB + ROUTER replay, bounded buffer, END_SEQ marker) plus a probe loop, and
 * the byte-exact fixture frames captured from vLLM.
 *
 * @module
 */
import { KvEventPublisher } from "../../src/sim/server/kv-publisher";
import type { KvPublisherOptions } from "../../src/sim/server/kv-publisher";
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

/** Options of {@link FakeVllmPublisher.start}. */
export type FakePublisherOptions = KvPublisherOptions;

/** The simulator's publisher, plus a probe loop for the ZeroMQ slow-joiner problem. */
export class FakeVllmPublisher extends KvEventPublisher {
  /** Bind both sockets. */
  static override async start(opts: FakePublisherOptions = {}): Promise<FakeVllmPublisher> {
    return new FakeVllmPublisher(await KvEventPublisher.bind(opts));
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
}
