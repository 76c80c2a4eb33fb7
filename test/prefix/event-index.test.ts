import { createBlockHasher } from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { createEventIndex } from "../../src/prefix/event-index";
import { MAX_PROBE } from "../../src/prefix/slot-hash";
import { countFinds } from "./find-calls";
import { range, SEED, storeEvent } from "./fixtures";

let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await createBlockHasher(SEED);
});

const B = 4;

describe("createEventIndex", () => {
  it("indexes stored blocks under kvroute's own keys, so prompts match on their chain", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    storeEvent(idx, "a", range(12), B);
    const prompt = hasher.chain(range(20), B, "");
    expect(idx.match(prompt, ["a", "b"])).toEqual(new Map([["a", 3]]));
    expect(idx.blocks("a")).toBe(3);
    expect(idx.blockSize("a")).toBe(B);
    expect(idx.blockSize("b")).toBeUndefined();
  });

  it("chains across events through the engine-hash → own-key map", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    const first = storeEvent(idx, "a", range(8), B, { base: 10n });
    storeEvent(idx, "a", range(8, 9), B, { base: 20n, parent: first[1] as bigint });
    expect(idx.match(hasher.chain(range(16), B, ""), ["a"])).toEqual(new Map([["a", 4]]));
  });

  it("refuses a whole event that repeats a block hash, before changing anything, and counts it as malformed", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    storeEvent(idx, "a", range(8), B, { base: 10n });
    const prompt = hasher.chain(range(16), B, "");
    const before = idx.match(prompt, ["a"]);
    // Block 11 (held) first, then a new block, then 11 again: a record must never end up its own parent.
    idx.blockStored("a", {
      blockHashes: [11n, 30n, 11n, 31n],
      parentBlockHash: undefined,
      tokenIds: range(16),
      blockSize: B,
      loraName: undefined,
    });
    expect(idx.stats("a")).toMatchObject({ blocks: 2, malformed: 4 });
    expect(idx.match(prompt, ["a"])).toEqual(before);
    // The pod's state is intact: a well-formed event extends it, a removal resolves, a clear empties it.
    storeEvent(idx, "a", range(8, 9), B, { base: 20n, parent: 11n });
    expect(idx.match(prompt, ["a"])).toEqual(new Map([["a", 4]]));
    idx.blockRemoved("a", [10n]);
    expect(idx.match(prompt, ["a"]).size).toBe(0);
    idx.allBlocksCleared("a");
    expect(idx.size()).toBe(0);
  });

  it("skips and counts blocks whose parent is given but unknown", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    storeEvent(idx, "a", range(8, 9), B, { base: 20n, parent: 999n });
    expect(idx.stats("a")).toMatchObject({ blocks: 0, unanchored: 2 });
    expect(idx.match(hasher.chain(range(16), B, ""), ["a"]).size).toBe(0);
  });

  it("separates LoRA adapters from the base model", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    storeEvent(idx, "a", range(8), B, { lora: "sql-lora" });
    expect(idx.match(hasher.chain(range(8), B, ""), ["a"]).size).toBe(0);
    expect(idx.match(hasher.chain(range(8), B, "sql-lora"), ["a"])).toEqual(new Map([["a", 2]]));
  });

  it("removes blocks via the engine hash and counts unknown removals", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    const hashes = storeEvent(idx, "a", range(12), B);
    idx.blockRemoved("a", [hashes[1] as bigint, 77n]);
    expect(idx.stats("a")).toMatchObject({ blocks: 2, unknownRemovals: 1 });
    expect(idx.match(hasher.chain(range(12), B, ""), ["a"])).toEqual(new Map([["a", 1]]));
  });

  it("keeps a key while another engine block shares it (refcount)", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    storeEvent(idx, "a", range(4), B, { base: 1n });
    storeEvent(idx, "a", range(4), B, { base: 2n }); // e.g. a cache_salt variant: same tokens, other engine hash
    idx.blockRemoved("a", [1n]);
    expect(idx.match(hasher.chain(range(4), B, ""), ["a"])).toEqual(new Map([["a", 1]]));
    idx.blockRemoved("a", [2n]);
    expect(idx.match(hasher.chain(range(4), B, ""), ["a"]).size).toBe(0);
  });

  it("clears and drops only the pod named", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    for (const pod of ["a", "b", "c"]) storeEvent(idx, pod, range(8), B);
    idx.allBlocksCleared("a");
    idx.dropPod("b");
    const prompt = hasher.chain(range(8), B, "");
    expect(idx.match(prompt, ["a", "b", "c"])).toEqual(new Map([["c", 2]]));
    expect([idx.blocks("a"), idx.blocks("b"), idx.blocks("c"), idx.size()]).toEqual([0, 0, 2, 2]);
    expect(idx.blockSize("a")).toBe(B);
    expect(idx.blockSize("b")).toBeUndefined();
    expect(idx.stats("b")).toEqual({
      blocks: 0,
      unanchored: 0,
      unknownRemovals: 0,
      evicted: 0,
      malformed: 0,
      crowded: 0,
    });
  });

  it("stores one block's content thousands of times without one probe run growing with them (counted as crowded)", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 10_000 });
    const n = 3000;
    // The same tokens under distinct engine hashes: one own key, 3000 records.
    for (let i = 0; i < n; i++) storeEvent(idx, "a", range(4), B, { base: 10_000n + BigInt(i) });
    storeEvent(idx, "b", range(8), B, { base: 1n });
    // The own-key hash indexes MAX_PROBE + 1 of them; the rest are stored, removable, never matched.
    expect(idx.stats("a")).toMatchObject({ blocks: n, crowded: n - (MAX_PROBE + 1) });
    const prompt = hasher.chain(range(8), B, "");
    expect(idx.match(prompt, ["a", "b"])).toEqual(
      new Map([
        ["a", 1],
        ["b", 2],
      ]),
    );
    idx.blockRemoved(
      "a",
      Array.from({ length: n / 2 }, (_, i) => 10_000n + BigInt(2 * i)),
    );
    expect(idx.stats("a")).toMatchObject({ blocks: n / 2, unknownRemovals: 0 });
    idx.dropPod("a");
    expect([idx.blocks("a"), idx.size(), idx.stats("a").crowded]).toEqual([0, 2, 0]);
    storeEvent(idx, "a", range(4), B, { base: 1n });
    expect(idx.match(prompt, ["a", "b"])).toEqual(
      new Map([
        ["a", 1],
        ["b", 2],
      ]),
    );
  });

  it("bounds blocks across pods with a global LRU and counts evictions per pod", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 3 });
    storeEvent(idx, "a", range(8), B, { base: 1n });
    storeEvent(idx, "b", range(8), B, { base: 1n });
    expect(idx.size()).toBe(3);
    expect(idx.evictions()).toBe(1);
    // a's last block went first (a chain's head is kept longest).
    expect(idx.stats("a")).toMatchObject({ blocks: 1, evicted: 1 });
    expect(idx.match(hasher.chain(range(8), B, ""), ["a", "b"])).toEqual(
      new Map([
        ["a", 1],
        ["b", 2],
      ]),
    );
  });

  it("counts blocks without enough token ids as malformed", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    idx.blockStored("a", {
      blockHashes: [1n, 2n, 3n],
      parentBlockHash: undefined,
      tokenIds: range(9),
      blockSize: B,
      loraName: undefined,
    });
    expect(idx.stats("a")).toMatchObject({ blocks: 2, malformed: 1 });
  });

  it("re-storing a known block only refreshes it", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 100 });
    storeEvent(idx, "a", range(8), B);
    storeEvent(idx, "a", range(8), B);
    expect(idx.blocks("a")).toBe(2);
    idx.blockRemoved("a", [1000n, 1001n]);
    expect(idx.match(hasher.chain(range(8), B, ""), ["a"]).size).toBe(0);
  });
});

describe("createEventIndex: cost follows the prompt, not the fleet", () => {
  const tokens = range(4 * 2000);
  const hashes = Array.from({ length: 2000 }, (_, i) => BigInt(i + 1));
  const store = (idx: ReturnType<typeof createEventIndex>, pod: string, n = 2000): void =>
    idx.blockStored(pod, {
      blockHashes: hashes.slice(0, n),
      parentBlockHash: undefined,
      tokenIds: tokens.slice(0, n * B),
      blockSize: B,
      loraName: undefined,
    });

  it("matches a prompt every pod holds with a constant number of lookups per pod", () => {
    const prompt = hasher.chain(tokens, B, "");
    for (const pods of [1, 40]) {
      const idx = createEventIndex({ hasher, maxBlocks: 2000 * pods });
      const names = Array.from({ length: pods }, (_, i) => `pod-${i}`);
      for (const pod of names) store(idx, pod);
      let out = new Map<string, number>();
      const finds = countFinds(() => (out = idx.match(prompt, names)));
      expect([...out.values()]).toEqual(names.map(() => 2000));
      expect(finds).toBeLessThanOrEqual(2 * pods);
    }
  });

  it("walks a pod exactly while a removed parent leaves orphans, and searches again once they are gone", () => {
    const idx = createEventIndex({ hasher, maxBlocks: 10_000 });
    store(idx, "a", 100);
    const prompt = hasher.chain(tokens.slice(0, 100 * B), B, "");
    idx.blockRemoved("a", [hashes[49] as bigint]); // block 49 goes, 50..99 stay: orphans
    expect(idx.match(prompt, ["a"])).toEqual(new Map([["a", 49]]));
    expect(countFinds(() => idx.match(prompt, ["a"]))).toBeGreaterThanOrEqual(50);
    idx.blockRemoved("a", hashes.slice(50, 100)); // the orphans go too
    expect(idx.match(prompt, ["a"])).toEqual(new Map([["a", 49]]));
    expect(countFinds(() => idx.match(prompt, ["a"]))).toBeLessThanOrEqual(2 * 8 + 3);
    expect(idx.stats("a").blocks).toBe(49);
  });
});
