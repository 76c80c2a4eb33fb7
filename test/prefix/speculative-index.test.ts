/**
 * The speculative index on its own and as the event index's listener (real indexes, injected clock): hits before
 * any event, expiry, removal by BlockRemoved / AllBlocksCleared / a dropped stream, and both bounds.
 */
import { createBlockHasher } from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { createEventIndex } from "../../src/prefix/event-index";
import type { EventIndex } from "../../src/prefix/event-index";
import type { PrefixIndex } from "../../src/prefix/prefix-index";
import { createSpeculativeIndex, withSpeculation } from "../../src/prefix/speculative-index";
import type { SpeculativeIndex, SpeculativeIndexOptions } from "../../src/prefix/speculative-index";
import { range, SEED, storeEvent } from "./fixtures";
import { countMapCalls } from "./map-calls";

let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await createBlockHasher(SEED);
});

const B = 4;
const TTL = 2000;

interface Setup {
  readonly clock: { t: number };
  readonly spec: SpeculativeIndex;
  readonly events: EventIndex;
  /** What strategies query: the event index plus speculation. */
  readonly view: PrefixIndex;
}

function setup(o: Partial<SpeculativeIndexOptions> = {}): Setup {
  const clock = { t: 1000 };
  const spec = createSpeculativeIndex({
    ttlMs: TTL,
    maxBlocks: 1000,
    maxBlocksPerPod: 1000,
    now: () => clock.t,
    ...o,
  });
  const events = createEventIndex({ hasher, maxBlocks: 1000, listener: spec });
  return { clock, spec, events, view: withSpeculation(events, spec) };
}

const keysOf = (tokens: number[]): BigUint64Array => hasher.chain(tokens, B, "");

describe("createSpeculativeIndex", () => {
  it("counts a prompt routed to a pod as held there before any event", () => {
    const { spec, view } = setup();
    spec.add("a", keysOf(range(16)));
    expect(view.match(keysOf(range(24)), ["a", "b"])).toEqual(new Map([["a", 4]]));
    expect(spec.blocks("a")).toBe(4);
    // Another prompt with the same first 8 tokens shares two leading blocks.
    expect(view.match(keysOf([...range(8), ...range(8, 500)]), ["a"])).toEqual(new Map([["a", 2]]));
  });

  it("matches the union: a run may continue from event-held blocks into speculative ones", () => {
    const { spec, events, view } = setup();
    storeEvent(events, "a", range(8), B);
    spec.add("a", keysOf(range(16)).slice(2));
    expect(view.match(keysOf(range(16)), ["a"])).toEqual(new Map([["a", 4]]));
    // Without speculation the event index alone stops after two blocks.
    expect(events.match(keysOf(range(16)), ["a"])).toEqual(new Map([["a", 2]]));
  });

  it("expires entries TTL after the last routing of the block to the pod", () => {
    const { clock, spec, view } = setup();
    spec.add("a", keysOf(range(16)));
    clock.t += TTL - 1;
    expect(view.match(keysOf(range(16)), ["a"]).get("a")).toBe(4);
    // Routing the first half again keeps that half alive for another TTL.
    spec.add("a", keysOf(range(8)));
    clock.t += 1;
    expect(view.match(keysOf(range(16)), ["a"]).get("a")).toBe(2);
    expect(spec.size()).toBe(2);
    clock.t += TTL;
    expect(view.match(keysOf(range(16)), ["a"]).size).toBe(0);
    expect(spec.size()).toBe(0);
    expect(spec.overflows()).toBe(0);
  });

  it("drops a speculative block the pod's BlockStored confirms; the event index then answers for it", () => {
    const { clock, spec, events, view } = setup();
    spec.add("a", keysOf(range(16)));
    storeEvent(events, "a", range(8), B);
    expect(spec.blocks("a")).toBe(2);
    clock.t += TTL;
    expect(view.match(keysOf(range(16)), ["a"]).get("a")).toBe(2);
  });

  it("drops speculative blocks on BlockRemoved for them, and everything of the pod on AllBlocksCleared", () => {
    const { spec, events, view } = setup();
    const hashes = storeEvent(events, "a", range(16), B);
    spec.add("a", keysOf(range(24)));
    spec.add("b", keysOf(range(24)));
    // Blocks 0–3 were confirmed (and dropped from speculation); re-routing makes them speculative again.
    spec.add("a", keysOf(range(24)));
    events.blockRemoved("a", hashes.slice(1));
    expect(view.match(keysOf(range(24)), ["a", "b"])).toEqual(
      new Map([
        ["a", 1],
        ["b", 6],
      ]),
    );
    expect(spec.blocks("a")).toBe(3);
    events.allBlocksCleared("a");
    expect(spec.blocks("a")).toBe(0);
    expect(view.match(keysOf(range(24)), ["a", "b"])).toEqual(new Map([["b", 6]]));
  });

  it("drops a pod's speculative blocks when its stream is dropped (resync, pod gone)", () => {
    const { spec, view } = setup();
    spec.add("a", keysOf(range(16)));
    view.dropPod("a");
    expect(spec.blocks("a")).toBe(0);
    expect(view.match(keysOf(range(16)), ["a"]).size).toBe(0);
  });

  it("at the per-pod bound replaces the pod's oldest entries, keeping a long prompt's leading blocks", () => {
    const { clock, spec, view } = setup({ maxBlocksPerPod: 3 });
    spec.add("a", keysOf(range(16, 100)));
    clock.t += 1;
    spec.add("a", keysOf(range(20)));
    expect(spec.blocks("a")).toBe(3);
    expect(view.match(keysOf(range(20)), ["a"]).get("a")).toBe(3);
    expect(view.match(keysOf(range(16, 100)), ["a"]).size).toBe(0);
    expect(spec.overflows()).toBe(4 + 2);
    spec.add("b", keysOf(range(8)));
    expect(spec.blocks("b")).toBe(2);
  });

  it("at the global bound drops the oldest entries across pods", () => {
    const { clock, spec, view } = setup({ maxBlocks: 5 });
    spec.add("a", keysOf(range(12)));
    clock.t += 1;
    spec.add("b", keysOf(range(12, 100)));
    expect(spec.size()).toBe(5);
    expect(spec.blocks("b")).toBe(3);
    // a's tail went first (its leading blocks were the newest of its add).
    expect(view.match(keysOf(range(12)), ["a"]).get("a")).toBe(2);
    expect(spec.overflows()).toBe(1);
    // Refreshing does not grow past the bound either (the ring holds stale records too).
    for (let i = 0; i < 10; i++) spec.add("b", keysOf(range(12, 100)));
    expect(spec.size()).toBeLessThanOrEqual(5);
    expect(view.match(keysOf(range(12, 100)), ["b"]).get("b")).toBe(3);
  });

  it("rejects a TTL of 0 (speculation off means no index)", () => {
    expect(() => createSpeculativeIndex({ ttlMs: 0, maxBlocks: 1, maxBlocksPerPod: 1 })).toThrow(RangeError);
  });
});

describe("createSpeculativeIndex work bounds", () => {
  it("evicts at the per-pod bound with one iterator per pod, not a fresh walk per eviction", () => {
    const spec = createSpeculativeIndex({
      ttlMs: 60_000,
      maxBlocks: 1_000_000,
      maxBlocksPerPod: 1000,
      now: () => 0,
    });
    const keys = (from: number, n: number) => BigUint64Array.from({ length: n }, (_, i) => BigInt(from + i));
    spec.add("a", keys(0, 1000));
    const counts = countMapCalls(() => {
      for (let p = 1; p <= 200; p++) spec.add("a", keys(p * 1000, 100));
    });
    expect(counts.iterations).toBeLessThanOrEqual(1);
    expect(spec.blocks("a")).toBe(1000);
    expect(spec.overflows()).toBe(200 * 100);
    // A prompt far past the bound: only the bound's worth of keys is looked at.
    const huge = countMapCalls(() => spec.add("a", keys(10_000_000, 100_000)));
    expect(huge.lookups).toBeLessThanOrEqual(3 * 1000 + 10);
  });
});
