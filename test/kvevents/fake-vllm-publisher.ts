/**
 * The KV-event tests' vLLM side: the tests' own publisher (`test/support/vllm-publisher.ts`, not the simulator's)
 * and the byte-exact fixture frames captured from vLLM.
 *
 * @module
 */
import { VllmTestPublisher } from "../support/vllm-publisher";
import type { VllmTestPublisherOptions } from "../support/vllm-publisher";
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
export type FakePublisherOptions = VllmTestPublisherOptions;

/** vLLM's publisher as the tests drive it. */
export const FakeVllmPublisher = VllmTestPublisher;
export type FakeVllmPublisher = VllmTestPublisher;
