import { createBlockHasher } from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { createEventIndex } from "../../src/prefix/event-index";
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
    });
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
