/**
 * Fixtures for prefix tests: a shared block hasher, prepared prompts and prefix deps over real indexes.
 *
 * @module
 */
import type { BlockHasher } from "../../src/prefix/block-key";
import { createApproximateIndex, type ApproximateIndex } from "../../src/prefix/approximate-index";
import { createEventIndex, type EventIndex } from "../../src/prefix/event-index";
import { createSpeculativeIndex, withSpeculation } from "../../src/prefix/speculative-index";
import type { SpeculativeIndex } from "../../src/prefix/speculative-index";
import type { PrefixDeps, PreparedPrompt } from "../../src/routing/framework";

/** Seed of the fixture hasher. */
export const SEED = 0x6b76726f757465n;

/** A prepared prompt over `tokens` whose keys come from `hasher` (memoized per block size). */
export function makePrompt(
  hasher: BlockHasher,
  tokens: readonly number[] | undefined,
  context = "",
): PreparedPrompt {
  const ids = tokens ? Uint32Array.from(tokens) : undefined;
  const memo = new Map<number, BigUint64Array>();
  return {
    tokens: ids,
    context,
    ...(ids ? {} : { unavailableReason: "not-prepared" }),
    keys(blockSize) {
      let k = memo.get(blockSize);
      if (!k) memo.set(blockSize, (k = ids ? hasher.chain(ids, blockSize, context) : new BigUint64Array(0)));
      return k;
    },
  };
}

/** Token ids `start, start+1, …` (`count` of them). */
export function range(count: number, start = 1): number[] {
  return Array.from({ length: count }, (_, i) => start + i);
}

/** Prefix deps over fresh indexes, with the indexes exposed for set-up and assertions. */
export interface PrefixFixture {
  readonly deps: PrefixDeps;
  readonly approximate: ApproximateIndex;
  readonly events: EventIndex;
  /** Pods whose event stream counts as live. */
  readonly publishing: Set<string>;
  /** Present when the fixture was made with speculation on. */
  readonly speculative: SpeculativeIndex | undefined;
}

/**
 * Fresh indexes; `approximateBlockSize` default 4 (small, so short test prompts span several blocks). With
 * `speculation`, the event index is wired to a speculative index as in `kv-cache-runtime.ts`.
 */
export function makePrefixFixture(
  hasher: BlockHasher,
  approximateBlockSize = 4,
  speculation?: { readonly ttlMs: number; readonly now: () => number },
): PrefixFixture {
  const approximate = createApproximateIndex({ maxBlocks: 10_000 });
  const speculative = speculation
    ? createSpeculativeIndex({ ...speculation, maxBlocks: 10_000, maxBlocksPerPod: 10_000 })
    : undefined;
  const events = createEventIndex({
    hasher,
    maxBlocks: 10_000,
    ...(speculative ? { listener: speculative } : {}),
  });
  const publishing = new Set<string>();
  return {
    approximate,
    events,
    publishing,
    speculative,
    deps: {
      approximate,
      events: speculative ? withSpeculation(events, speculative) : events,
      ...(speculative ? { speculative } : {}),
      publishesEvents: (pod) => publishing.has(pod),
      eventBlockSize: (pod) => events.blockSize(pod),
      approximateBlockSize,
    },
  };
}

/** Report `tokens` (a whole number of blocks) as stored by `pod` in one event, engine hashes `base, base+1, …`. */
export function storeEvent(
  events: EventIndex,
  pod: string,
  tokens: readonly number[],
  blockSize: number,
  options: { base?: bigint; parent?: bigint; lora?: string } = {},
): bigint[] {
  const base = options.base ?? 1000n;
  const hashes = Array.from({ length: Math.floor(tokens.length / blockSize) }, (_, i) => base + BigInt(i));
  events.blockStored(pod, {
    blockHashes: hashes,
    parentBlockHash: options.parent,
    tokenIds: tokens,
    blockSize,
    loraName: options.lora,
  });
  return hashes;
}
