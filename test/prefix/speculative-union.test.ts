/**
 * The union match of the event index and the speculative index (`withSpeculation`), for pods that have speculative
 * entries: it searches each side known closed instead of walking every block, so its lookups do not grow with the
 * pods holding the prompt; and it gives the exact walk's answer (the previous Map-based speculative index, walking
 * the event index's keys one by one, is the reference) over seeded random stores, removals, evictions, routings,
 * drops and expiry.
 */
import { createBlockHasher } from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { createEventIndex } from "../../src/prefix/event-index";
import type { BlockHolder, BlockListener } from "../../src/prefix/prefix-index";
import { createSpeculativeIndex, withSpeculation } from "../../src/prefix/speculative-index";
import { createSpeculativeIndex as createReference } from "../../bench/speculative-index-baseline";
import { countFinds } from "./find-calls";
import { range, SEED, storeEvent } from "./fixtures";
import { prng } from "./reference-models";

let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await createBlockHasher(SEED);
});

const B = 4;

describe("withSpeculation: pods with speculative entries", () => {
  const BLOCKS = 2000;
  const tokens = range(B * BLOCKS);

  /** `pods` pods each holding the whole prompt by events and its first 10 blocks speculatively. */
  const fleet = (pods: number) => {
    const clock = { t: 1000 };
    const spec = createSpeculativeIndex({
      ttlMs: 2000,
      maxBlocks: 100_000,
      maxBlocksPerPod: 1000,
      now: () => clock.t,
    });
    const events = createEventIndex({ hasher, maxBlocks: BLOCKS * pods, listener: spec });
    const names = Array.from({ length: pods }, (_, i) => `pod-${i}`);
    const prompt = hasher.chain(tokens, B, "");
    for (const pod of names) {
      storeEvent(events, pod, tokens, B, { base: 1_000_000n });
      spec.add(pod, prompt.slice(0, 10));
    }
    return { clock, spec, events, names, prompt, view: withSpeculation(events, spec) };
  };

  it("matches a prompt every pod holds with a constant number of lookups per pod", () => {
    for (const pods of [1, 16]) {
      const { names, prompt, spec, view } = fleet(pods);
      expect(names.every((pod) => spec.blocks(pod) === 10)).toBe(true);
      let out = new Map<string, number>();
      const finds = countFinds(() => (out = view.match(prompt, names)));
      expect([...out.values()]).toEqual(names.map(() => BLOCKS));
      expect(finds).toBeLessThanOrEqual(4 * pods);
    }
  });

  it("stays a search after a speculative entry was dropped out of age order (the event side is closed)", () => {
    const { events, names, prompt, spec, view } = fleet(16);
    for (const pod of names) spec.removed(pod, prompt[5] as bigint);
    expect(names.every((pod) => spec.blocks(pod) === 9)).toBe(true);
    let out = new Map<string, number>();
    const finds = countFinds(() => (out = view.match(prompt, names)));
    expect([...out.values()]).toEqual(names.map(() => BLOCKS));
    expect(finds).toBeLessThanOrEqual(4 * names.length);
    expect(events.stats("pod-0").blocks).toBe(BLOCKS);
  });

  it("walks only what the search could not prove: a pod holding the prompt by speculation alone", () => {
    const { names, prompt, spec, view } = fleet(1);
    const fresh = hasher.chain(range(B * 200, 7), B, "");
    spec.add("other", fresh);
    let out = new Map<string, number>();
    const finds = countFinds(() => (out = view.match(fresh, [...names, "other"])));
    expect(out).toEqual(new Map([["other", 200]]));
    expect(finds).toBeLessThanOrEqual(4 * 2 + 2 * Math.ceil(Math.log2(200)) + 4);
    expect(view.match(prompt, names)).toEqual(new Map([["pod-0", BLOCKS]]));
  });
});

describe("speculative match with keys that are not chains", () => {
  it("still counts a key refreshed onto another path (the walk after the search finds it)", () => {
    const options = { ttlMs: 100, maxBlocks: 100, maxBlocksPerPod: 100, now: () => 0 };
    const spec = createSpeculativeIndex(options);
    const reference = createReference(options);
    for (const index of [spec, reference]) {
      index.add("a", new BigUint64Array([1n, 2n, 3n, 4n]));
      index.add("a", new BigUint64Array([9n, 2n]));
    }
    const none = (): undefined => undefined;
    for (const query of [
      [1n, 2n, 3n, 4n],
      [9n, 2n, 3n],
      [1n, 9n],
      [2n, 3n, 4n],
    ]) {
      const keys = new BigUint64Array(query);
      expect(spec.match(keys, ["a"], none)).toEqual(reference.match(keys, ["a"], none));
    }
    expect(spec.match(new BigUint64Array([1n, 2n, 3n, 4n]), ["a"], none)).toEqual(new Map([["a", 4]]));
  });
});

describe("withSpeculation against the exact walk", () => {
  const PODS = ["a", "b", "c"];

  function drive(seed: number): string | undefined {
    const rand = prng(seed);
    const clock = { t: 0 };
    const options = { ttlMs: 40, maxBlocks: 80, maxBlocksPerPod: 30, now: () => clock.t };
    const spec = createSpeculativeIndex(options);
    const reference = createReference(options);
    const both: BlockListener = {
      stored: (pod, key) => (spec.stored(pod, key), reference.stored(pod, key)),
      removed: (pod, key) => (spec.removed(pod, key), reference.removed(pod, key)),
      cleared: (pod) => (spec.cleared(pod), reference.cleared(pod)),
    };
    const events = createEventIndex({ hasher, maxBlocks: 60, listener: both });
    const view = withSpeculation(events, spec);
    /** The event index's keys one by one (a plain holder: the reference walks it). */
    const plain = (pod: string): BlockHolder | undefined => {
      const h = events.holder(pod);
      return h === undefined ? undefined : { has: (key) => h.has(key) };
    };
    const stored: { pod: string; hash: bigint }[] = [];
    let nextHash = 1n;
    const promptTokens = (): number[] => {
      const blocks = 1 + Math.floor(rand() * 10);
      const out: number[] = [];
      for (let b = 0; b < blocks; b++) {
        const v = b < 5 ? Math.floor(rand() * 2) : b;
        for (let i = 0; i < B; i++) out.push(1 + v * 10 + i);
      }
      return out;
    };
    for (let op = 0; op < 3000; op++) {
      const r = rand();
      const pod = PODS[Math.floor(rand() * PODS.length)] as string;
      clock.t += Math.floor(rand() * 3);
      if (r < 0.3) {
        const keys = hasher.chain(promptTokens(), B, "");
        spec.add(pod, keys);
        reference.add(pod, keys);
      } else if (r < 0.5) {
        for (const hash of storeEvent(events, pod, promptTokens(), B, { base: nextHash }))
          stored.push({ pod, hash });
        nextHash += 100n;
      } else if (r < 0.6 && stored.length > 0) {
        const { pod: p, hash } = stored[Math.floor(rand() * stored.length)] as { pod: string; hash: bigint };
        events.blockRemoved(p, [hash]);
      } else if (r < 0.62) {
        events.allBlocksCleared(pod);
      } else {
        const keys = hasher.chain(promptTokens(), B, "");
        const got = [...view.match(keys, PODS)].sort();
        const want = [...reference.match(keys, PODS, plain)].sort();
        if (JSON.stringify(got) !== JSON.stringify(want))
          return `seed ${seed} op ${op}: got ${JSON.stringify(got)}, want ${JSON.stringify(want)}`;
      }
    }
    return undefined;
  }

  it.each([1, 2, 3, 4, 5, 6])("agrees on every match (seed %i)", (seed) => {
    expect(drive(seed)).toBeUndefined();
  });
});
