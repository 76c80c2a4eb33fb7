/**
 * The event index against a plain reference model (test/prefix/reference-models.ts) over thousands of seeded random
 * operations: events continuing each other through `parentBlockHash`, salted duplicates (two engine hashes, one own
 * key), removals of parents under live children (orphans), the global bound evicting parents stored before their
 * children, clears, drops and matches. Every match, size, eviction count and block count must agree after every
 * operation.
 */
import { createBlockHasher } from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { createEventIndex } from "../../src/prefix/event-index";
import { SEED } from "./fixtures";
import { ReferenceEvents, prng } from "./reference-models";

let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await createBlockHasher(SEED);
});

const B = 4;
const PODS = ["a", "b", "c", "d"];
const DOC_BLOCKS = 40;

/** Tokens of blocks [from, to) of document d. */
const tokensOf = (d: number, from: number, to: number): number[] =>
  Array.from({ length: (to - from) * B }, (_, i) => d * 10_000 + from * B + i);
/** Engine hash of block j of document d (the salted variant caches the same tokens under another hash). */
const engineHash = (d: number, j: number, salted: boolean): bigint =>
  BigInt((salted ? 500_000 : 0) + d * 1000 + j);

function drive(seed: number, ops: number, maxBlocks: number): void {
  const rand = prng(seed);
  const index = createEventIndex({ hasher, maxBlocks });
  const model = new ReferenceEvents(maxBlocks);
  let first: string | undefined;
  const same = (what: string, got: unknown, want: unknown): void => {
    if (first !== undefined) return;
    const [g, w] = [got, want].map((v) => JSON.stringify(v instanceof Map ? [...v] : v));
    if (g !== w) first = `${what}: got ${g}, want ${w}`;
  };
  for (let op = 0; op < ops; op++) {
    const r = rand();
    const pod = PODS[Math.floor(rand() * PODS.length)] as string;
    const d = Math.floor(rand() * 3);
    const where = `seed ${seed} op ${op}`;
    if (r < 0.5) {
      const from = rand() < 0.4 ? 0 : Math.floor(rand() * (DOC_BLOCKS - 1));
      const to = Math.min(DOC_BLOCKS, from + 1 + Math.floor(rand() * 8));
      const salted = rand() < 0.15;
      const blockHashes = Array.from({ length: to - from }, (_, i) => engineHash(d, from + i, salted));
      const parentBlockHash = from === 0 ? undefined : engineHash(d, from - 1, rand() < 0.15);
      const tokenIds = tokensOf(d, from, to);
      index.blockStored(pod, { blockHashes, parentBlockHash, tokenIds, blockSize: B, loraName: undefined });
      model.stored(pod, {
        blockHashes,
        parentBlockHash,
        own: (anchor) => hasher.chain(tokenIds, B, "", anchor),
      });
    } else if (r < 0.62) {
      const hashes = Array.from({ length: 1 + Math.floor(rand() * 3) }, () =>
        engineHash(d, Math.floor(rand() * DOC_BLOCKS), rand() < 0.15),
      );
      index.blockRemoved(pod, hashes);
      model.removed(pod, hashes);
    } else if (r < 0.63) {
      index.allBlocksCleared(pod);
      model.cleared(pod);
    } else if (r < 0.64) {
      index.dropPod(pod);
      model.cleared(pod);
    } else {
      const n = 1 + Math.floor(rand() * DOC_BLOCKS);
      const tokens = tokensOf(d, 0, n);
      // Sometimes a prompt that diverges from the document after a while.
      if (rand() < 0.3) tokens.splice(Math.floor(rand() * tokens.length), 1, 999_999);
      const keys = hasher.chain(tokens, B, "");
      same(`${where} match`, index.match(keys, PODS), model.match(keys, PODS));
    }
    same(`${where} size, evictions`, [index.size(), index.evictions()], [model.size(), model.evicted]);
    same(
      `${where} blocks`,
      PODS.map((p) => index.blocks(p)),
      PODS.map((p) => model.blocks(p)),
    );
  }
  expect(first).toBeUndefined();
}

describe("createEventIndex against the reference model", () => {
  it.each([1, 2, 3])("agrees with room to spare (seed %i)", (seed) => drive(seed, 3000, 100_000));
  it.each([4, 5, 6])("agrees with the global bound evicting (seed %i)", (seed) => drive(seed, 3000, 60));
});
