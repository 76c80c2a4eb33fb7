import { createApproximateIndex } from "../../src/prefix/approximate-index";
import { countFinds } from "./find-calls";
import { countMapCalls } from "./map-calls";
import { chainKeys } from "./reference-models";

const keys = (...xs: number[]) => BigUint64Array.from(xs.map(BigInt));

describe("createApproximateIndex", () => {
  it("matches the longest run of leading blocks per pod; pods without a match are absent", () => {
    const idx = createApproximateIndex({ maxBlocks: 100 });
    idx.add("a", keys(1, 2, 3));
    idx.add("b", keys(1, 2));
    idx.add("c", keys(2, 3));
    expect(idx.match(keys(1, 2, 3, 4), ["a", "b", "c", "d"])).toEqual(
      new Map([
        ["a", 3],
        ["b", 2],
      ]),
    );
    expect(idx.match(keys(1, 9, 3), ["a"])).toEqual(new Map([["a", 1]]));
    expect(idx.match(keys(), ["a"]).size).toBe(0);
  });

  it("only reports the pods asked about", () => {
    const idx = createApproximateIndex({ maxBlocks: 100 });
    idx.add("a", keys(1));
    idx.add("b", keys(1));
    expect([...idx.match(keys(1), ["b"]).keys()]).toEqual(["b"]);
  });

  it("counts blocks per pod, dedups re-adds, and drops one pod only", () => {
    const idx = createApproximateIndex({ maxBlocks: 100 });
    idx.add("a", keys(1, 2, 3));
    idx.add("a", keys(1, 2, 3, 4));
    idx.add("b", keys(1, 2));
    expect([idx.blocks("a"), idx.blocks("b"), idx.size()]).toEqual([4, 2, 6]);
    idx.dropPod("a");
    expect([idx.blocks("a"), idx.blocks("b"), idx.size()]).toEqual([0, 2, 2]);
    expect(idx.match(keys(1, 2), ["a", "b"])).toEqual(new Map([["b", 2]]));
    idx.dropPod("nope");
  });

  it("evicts the least recently added/touched entry across pods at the global bound", () => {
    const idx = createApproximateIndex({ maxBlocks: 4 });
    idx.add("a", keys(1, 2));
    idx.add("b", keys(10, 11));
    idx.add("a", keys(1)); // touch: a/1 is now the most recent; a/2 is the oldest
    idx.add("b", keys(12));
    expect(idx.size()).toBe(4);
    expect(idx.evictions()).toBe(1);
    expect(idx.blocks("a")).toBe(1);
    expect(idx.match(keys(1, 2), ["a"])).toEqual(new Map([["a", 1]]));
    expect(idx.match(keys(12), ["b"])).toEqual(new Map([["b", 1]]));
  });

  it("keeps a prompt's first blocks longest (they are added last)", () => {
    const idx = createApproximateIndex({ maxBlocks: 3 });
    idx.add("a", keys(1, 2, 3, 4, 5));
    expect(idx.match(keys(1, 2, 3, 4, 5), ["a"])).toEqual(new Map([["a", 3]]));
  });

  it("applies a per-pod bound when the caller knows one", () => {
    const bounds: Record<string, number | undefined> = { a: 2, b: undefined };
    const idx = createApproximateIndex({ maxBlocks: 100, perPodMaxBlocks: (pod) => bounds[pod] });
    idx.add("a", keys(1, 2));
    idx.add("a", keys(7, 8));
    idx.add("b", keys(1, 2, 3, 4));
    expect([idx.blocks("a"), idx.blocks("b"), idx.evictions()]).toEqual([2, 4, 2]);
    expect(idx.match(keys(7, 8), ["a"])).toEqual(new Map([["a", 2]]));
    expect(idx.match(keys(1), ["a"]).size).toBe(0);
  });

  it("reuses freed slots and grows past the initial capacity up to the bound", () => {
    const idx = createApproximateIndex({ maxBlocks: 5000 });
    const many = BigUint64Array.from({ length: 3000 }, (_, i) => BigInt(i + 1));
    idx.add("a", many);
    idx.add("b", many);
    expect(idx.size()).toBe(5000);
    expect(idx.evictions()).toBe(1000);
    idx.dropPod("a");
    idx.add("c", many);
    expect(idx.size()).toBe(5000);
    expect(idx.match(many, ["c"])).toEqual(new Map([["c", 3000]]));
  });
});

const range = (from: number, n: number): BigUint64Array =>
  BigUint64Array.from({ length: n }, (_, i) => BigInt(from + i));

describe("createApproximateIndex bounds whatever the prompt and the metrics", () => {
  it("keeps the fallback per-pod bound while the engine's block count is unknown (stale metrics)", () => {
    const idx = createApproximateIndex({
      maxBlocks: 1_000_000,
      perPodMaxBlocks: () => undefined,
      fallbackPerPodMaxBlocks: 1000,
    });
    for (let p = 0; p < 10; p++) {
      idx.add("a", range(p * 50_000, 50_000));
      expect(idx.blocks("a")).toBeLessThanOrEqual(1000);
    }
    // The prompt's first blocks are the ones kept.
    expect(idx.match(range(9 * 50_000, 2000), ["a"])).toEqual(new Map([["a", 1000]]));
  });

  it("trims a pod down to its bound when the bound shrinks", () => {
    let bound: number | undefined = 5000;
    const idx = createApproximateIndex({
      maxBlocks: 1_000_000,
      perPodMaxBlocks: () => bound,
      fallbackPerPodMaxBlocks: 100,
    });
    idx.add("a", range(0, 5000));
    expect(idx.blocks("a")).toBe(5000);
    bound = undefined; // metrics went stale: the fallback applies
    idx.add("a", range(10_000, 1));
    expect(idx.blocks("a")).toBe(100);
    bound = 10;
    idx.add("a", range(20_000, 1));
    expect(idx.blocks("a")).toBe(10);
    expect(idx.size()).toBe(10);
  });

  it("does work proportional to the pod's bound for a huge prompt, and never iterates a pod's map", () => {
    const idx = createApproximateIndex({
      maxBlocks: 1_000_000,
      perPodMaxBlocks: () => undefined,
      fallbackPerPodMaxBlocks: 2000,
    });
    // Many deletes first (V8 keeps deleted map entries until a rehash): fill, then churn through evictions.
    for (let p = 0; p < 20; p++) idx.add("a", range(p * 2000, 2000));
    const huge = range(10_000_000, 200_000);
    const added = countMapCalls(() => idx.add("a", huge));
    expect(added.iterations).toBe(0);
    // Per key looked at: one get, at most one delete (eviction) and one set; only the first 2000 keys are looked at.
    expect(added.lookups).toBeLessThanOrEqual(3 * 2000 + 10);
    const matched = countMapCalls(() => idx.match(huge, ["a"]));
    expect(matched.iterations).toBe(0);
    expect(matched.lookups).toBeLessThanOrEqual(2000 + 10);
    expect(idx.blocks("a")).toBe(2000);
  });

  it("evicts at a per-pod bound without iterating, after many deletes at the head of the pod's map", () => {
    const idx = createApproximateIndex({ maxBlocks: 1_000_000, perPodMaxBlocks: () => 1000 });
    idx.add("a", range(0, 1000));
    const churn = countMapCalls(() => {
      for (let p = 1; p <= 200; p++) idx.add("a", range(p * 1000, 50));
    });
    expect(churn.iterations).toBe(0);
    expect(churn.lookups).toBeLessThanOrEqual(200 * 50 * 3 + 200 * 5);
    expect(idx.blocks("a")).toBe(1000);
  });

  it("forgets what one add created, but not entries it only refreshed or another pod holds", () => {
    const idx = createApproximateIndex({ maxBlocks: 100 });
    const first = idx.add("a", keys(1, 2, 3));
    idx.add("b", keys(1, 2, 4, 5));
    const failed = idx.add("a", keys(1, 2, 4, 5));
    // a/1 and a/2 were created by `first` (an earlier turn that succeeded): they stay.
    expect(idx.forget("a", keys(1, 2, 4, 5), failed)).toBe(2);
    expect(idx.match(keys(1, 2, 4, 5), ["a", "b"])).toEqual(
      new Map([
        ["a", 2],
        ["b", 4],
      ]),
    );
    expect(idx.blocks("a")).toBe(3);
    expect(idx.forget("a", keys(1, 2, 3), first)).toBe(3);
    expect(idx.forget("a", keys(1, 2, 3), first)).toBe(0);
    expect(idx.forget("nope", keys(1), first)).toBe(0);
    expect(idx.size()).toBe(4);
  });
});

describe("createApproximateIndex: cost follows the prompt, not the fleet", () => {
  const prompt = chainKeys(Array.from({ length: 8000 }, (_, i) => i));

  it("matches a prompt every pod holds with a constant number of lookups per pod", () => {
    const lookupsFor = (pods: number): number => {
      const idx = createApproximateIndex({ maxBlocks: 8000 * pods });
      const names = Array.from({ length: pods }, (_, i) => `pod-${i}`);
      for (const pod of names) idx.add(pod, prompt);
      let out = new Map<string, number>();
      const finds = countFinds(() => (out = idx.match(prompt, names)));
      expect(out.size).toBe(pods);
      expect([...out.values()].every((n) => n === 8000)).toBe(true);
      return finds;
    };
    const one = lookupsFor(1);
    const many = lookupsFor(16);
    expect(one).toBeLessThanOrEqual(2);
    expect(many).toBeLessThanOrEqual(2 * 16);
  });

  it("matches pods holding different runs of the prompt with O(log blocks) lookups each", () => {
    const idx = createApproximateIndex({ maxBlocks: 1_000_000 });
    const names = Array.from({ length: 20 }, (_, i) => `pod-${i}`);
    names.forEach((pod, i) => idx.add(pod, prompt.subarray(0, (i * 7919) % 8000)));
    let out = new Map<string, number>();
    const finds = countFinds(() => (out = idx.match(prompt, names)));
    names.forEach((pod, i) => expect(out.get(pod)).toBe((i * 7919) % 8000 || undefined));
    expect(finds).toBeLessThanOrEqual(20 * (2 * 14 + 3));
  });

  it("adds a prompt the pod already holds without a lookup per block", () => {
    const idx = createApproximateIndex({ maxBlocks: 100_000 });
    idx.add("a", prompt);
    const finds = countFinds(() => idx.add("a", prompt));
    expect(finds).toBeLessThanOrEqual(4);
    // A longer prompt: lookups for the held run's search and one or two per new block.
    const longer = chainKeys(Array.from({ length: 8100 }, (_, i) => i));
    expect(countFinds(() => idx.add("a", longer))).toBeLessThanOrEqual(40 + 2 * 100);
    expect(idx.blocks("a")).toBe(8100);
    expect(idx.match(longer, ["a"])).toEqual(new Map([["a", 8100]]));
  });
});

describe("createApproximateIndex: pods whose held set is not prefix-closed", () => {
  it("walks a pod with orphans exactly, and searches again once they are re-adopted", () => {
    const idx = createApproximateIndex({ maxBlocks: 100 });
    const shared = chainKeys([1, 2, 3, 4]);
    const longer = chainKeys([1, 2, 3, 4, 5, 6]);
    const first = idx.add("a", shared);
    idx.add("a", longer); // 5, 6 hang off the first request's blocks
    // The first request failed: its blocks go, the second's stay (orphans, unreachable from the first block).
    expect(idx.forget("a", shared, first)).toBe(4);
    expect(idx.blocks("a")).toBe(2);
    expect(idx.match(longer, ["a"]).size).toBe(0);
    expect(idx.match(longer.subarray(4), ["a"])).toEqual(new Map([["a", 2]])); // held, by key, on another path
    // A third request brings the shared prefix back: the orphans are reachable again.
    idx.add("a", shared);
    expect(idx.match(longer, ["a"])).toEqual(new Map([["a", 6]]));
    const finds = countFinds(() => idx.match(longer, ["a"]));
    expect(finds).toBeLessThanOrEqual(2);
  });

  it("does not trust the chain links of a key reached by another path", () => {
    const idx = createApproximateIndex({ maxBlocks: 100 });
    idx.add("a", keys(1, 2, 3));
    const other = idx.add("a", keys(9, 2)); // 2 reached from 9: not a hash chain
    idx.add("a", keys(9, 2, 7)); // 7 is created under the path 9, 2
    idx.forget("a", keys(9, 2), other); // takes 9 back (2 was created by the first add)
    expect(idx.match(keys(9, 2, 7), ["a"]).size).toBe(0);
    expect(idx.match(keys(1, 2, 3), ["a"])).toEqual(new Map([["a", 3]]));
  });
});
