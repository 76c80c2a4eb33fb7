import { createApproximateIndex } from "../../src/prefix/approximate-index";

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
