/**
 * Issue 12's index goals, measured for `npm run bench -- kv`:
 * - lookups of a 128k-token prompt (8000 blocks of 16 tokens) over a 1000-pod fleet of which 1, 16, 100 or 1000
 *   pods hold it (the others hold another 100-block prompt, so every pod is looked at), for the approximate index,
 *   the event index and the event index through the speculative view (no speculative entries), next to the old
 *   `Map<bigint>` indexes (kept in bench/ as baselines) where building them is cheap (≤ 100 holders); the holder
 *   counts of one index are timed in alternating slices, so their ratio survives a busy machine;
 * - the event index's cost per stored block: fresh 128-block `BlockStored` events into an index at its bound (each
 *   block evicts one), own-key hashing included, without and with the speculative listener, old index beside it.
 *
 * The event index computes each event's own keys with the hasher; for the lookups the hasher is memoized (the
 * same 128k tokens are stored by up to 1000 pods), which changes what is stored in no way and keeps set-up short.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createApproximateIndex } from "../src/prefix/approximate-index";
import type { BlockHasher } from "../src/prefix/block-key";
import { createEventIndex } from "../src/prefix/event-index";
import type { PrefixIndex } from "../src/prefix/prefix-index";
import { createSpeculativeIndex, withSpeculation } from "../src/prefix/speculative-index";
import { createApproximateIndex as createOldApproximateIndex } from "./approximate-index-baseline";
import { createEventIndex as createOldEventIndex } from "./event-index-baseline";

/** Fleet size of the lookups. */
export const FLEET = 1000;
/** Prompt of the lookups: 128k tokens in blocks of 16. */
export const PROMPT_BLOCKS = 8000;
const BLOCK = 16;
const OTHER_BLOCKS = 100;
/** Holder counts measured. */
export const HOLDERS = [1, 16, 100, 1000] as const;
/** The old indexes walk every block of every holding pod: built only up to this many holders. */
const OLD_MAX_HOLDERS = 100;

/**
 * A timed operation over slices: the median of the slice means (robust to a slice that a busy machine stalls) and
 * their min–max (unit in the field that holds it).
 */
export interface Timing {
  readonly median: number;
  readonly min: number;
  readonly max: number;
}

/** One lookup point. */
export interface HolderRow {
  readonly index: "approximate" | "approximate (old)" | "events" | "events (old)" | "events+speculative";
  readonly holders: number;
  /** `match(prompt, fleet)`, µs. */
  readonly matchUs: Timing;
}

/** One ingest point. */
export interface IngestRow {
  readonly index: "events" | "events (old)" | "events+speculative listener" | "own-key hashing alone";
  /** Blocks per event × events timed. */
  readonly blocks: number;
  readonly nsPerBlock: Timing;
}

/** Median and min–max of per-slice figures. */
export function summarize(perSlice: readonly number[]): Timing {
  const sorted = [...perSlice].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  const median =
    sorted.length % 2 === 1
      ? (sorted[mid] as number)
      : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
  return { median, min: sorted[0] ?? NaN, max: sorted[sorted.length - 1] ?? NaN };
}

/** A full GC (exposed at run time), so garbage of the previous point's set-up is not collected while timing. */
function collectGarbage(): void {
  setFlagsFromString("--expose_gc");
  const gc = runInNewContext("gc") as () => void;
  gc();
  gc();
}

const MASK = 0xffffffffffffffffn;
const randomKeys = (n: number, salt: bigint): BigUint64Array =>
  BigUint64Array.from({ length: n }, (_, i) => ((BigInt(i + 1) + salt) * 0x9e3779b97f4a7c15n) & MASK);

/** A hasher that computes each distinct token array's chain once. */
function memoHasher(real: BlockHasher): BlockHasher {
  const memo = new Map<ArrayLike<number>, BigUint64Array>();
  return {
    chain(tokens, blockSize, context, parent) {
      if (parent !== undefined) return real.chain(tokens, blockSize, context, parent);
      let keys = memo.get(tokens);
      if (!keys) memo.set(tokens, (keys = real.chain(tokens, blockSize, context)));
      return keys;
    },
  };
}

const fleet = Array.from({ length: FLEET }, (_, i) => `default/pod-${i}`);

/** One lookup point, built and ready to time. */
interface Probe {
  readonly index: HolderRow["index"];
  readonly holders: number;
  /** One `match(prompt, fleet)`; returns how many pods matched. */
  readonly run: () => number;
}

function approximateProbe(holders: number, old: boolean): Probe {
  const prompt = randomKeys(PROMPT_BLOCKS, 0n);
  const other = randomKeys(OTHER_BLOCKS, 1n << 40n);
  const options = { maxBlocks: holders * PROMPT_BLOCKS + (FLEET - holders) * OTHER_BLOCKS };
  const index: PrefixIndex & { add(pod: string, keys: BigUint64Array): number } = old
    ? createOldApproximateIndex(options)
    : createApproximateIndex(options);
  fleet.forEach((pod, i) => index.add(pod, i < holders ? prompt : other));
  return {
    index: old ? "approximate (old)" : "approximate",
    holders,
    run: () => index.match(prompt, fleet).size,
  };
}

function eventProbes(hasher: BlockHasher, holders: number, old: boolean): Probe[] {
  const tokens = Uint32Array.from({ length: PROMPT_BLOCKS * BLOCK }, (_, i) => (i * 2654435761) % 151_000);
  const otherTokens = Uint32Array.from({ length: OTHER_BLOCKS * BLOCK }, (_, i) => 150_000 - (i % 1000));
  const hashes = Array.from({ length: PROMPT_BLOCKS }, (_, i) => BigInt(i + 1));
  const otherHashes = Array.from({ length: OTHER_BLOCKS }, (_, i) => BigInt(1_000_000 + i));
  const memo = memoHasher(hasher);
  const maxBlocks = holders * PROMPT_BLOCKS + (FLEET - holders) * OTHER_BLOCKS;
  const spec = createSpeculativeIndex({ ttlMs: 3_600_000, maxBlocks: 100_000, maxBlocksPerPod: 100_000 });
  const events = old
    ? createOldEventIndex({ hasher: memo, maxBlocks, listener: spec })
    : createEventIndex({ hasher: memo, maxBlocks, listener: spec });
  fleet.forEach((pod, i) =>
    events.blockStored(pod, {
      blockHashes: i < holders ? hashes : otherHashes,
      parentBlockHash: undefined,
      tokenIds: i < holders ? tokens : otherTokens,
      blockSize: BLOCK,
      loraName: undefined,
    }),
  );
  const prompt = memo.chain(tokens, BLOCK, "");
  const probes: Probe[] = [
    { index: old ? "events (old)" : "events", holders, run: () => events.match(prompt, fleet).size },
  ];
  if (!old) {
    const view = withSpeculation(events, spec);
    probes.push({ index: "events+speculative", holders, run: () => view.match(prompt, fleet).size });
  }
  return probes;
}

/**
 * Time the probes in alternating slices (each slice runs every probe for `sliceMs`), so drift on a busy machine
 * slows every point of a family about equally and their ratios hold.
 */
function timeInterleaved(probes: readonly Probe[], slices = 7, sliceMs = 40): HolderRow[] {
  collectGarbage();
  const perSlice = probes.map(() => [] as number[]);
  let sink = 0;
  for (const p of probes) sink += p.run(); // warm-up
  for (let s = 0; s < slices; s++)
    probes.forEach((p, k) => {
      let n = 0;
      const t0 = performance.now();
      while (performance.now() - t0 < sliceMs || n === 0) {
        sink += p.run();
        n++;
      }
      perSlice[k]?.push(((performance.now() - t0) * 1000) / n);
    });
  if (sink === 0) throw new Error("no pod matched");
  return probes.map((p, k) => ({
    index: p.index,
    holders: p.holders,
    matchUs: summarize(perSlice[k] ?? []),
  }));
}

/** Lookup latency per holder count, new and old indexes; the points of one index are timed interleaved. */
export function benchHolders(hasher: BlockHasher): HolderRow[] {
  const old = HOLDERS.filter((h) => h <= OLD_MAX_HOLDERS);
  const families: (() => Probe[])[] = [
    () => HOLDERS.map((h) => approximateProbe(h, false)),
    () => old.map((h) => approximateProbe(h, true)),
    () => HOLDERS.flatMap((h) => eventProbes(hasher, h, false)),
    () => old.flatMap((h) => eventProbes(hasher, h, true)),
  ];
  // One family at a time: each holds up to ~0.5 GB of index.
  return families.flatMap((build) => timeInterleaved(build()));
}

/**
 * ns per stored block: an index bounded at `bound` blocks is filled first, then fresh 128-block events (new engine
 * hashes, new tokens, so new own keys) are stored, each block evicting the least recent one. Each slice's events
 * are made before its clock starts.
 */
export function benchIngest(
  hasher: BlockHasher,
  bound = 200_000,
  slices = 7,
  eventsPerSlice = 600,
): IngestRow[] {
  const perEvent = 128;
  let next = 0;
  const makeEvent = () => {
    const e = next++;
    const base = BigInt(e) * BigInt(perEvent);
    return {
      pod: `default/pod-${e % 8}`,
      blockHashes: Array.from({ length: perEvent }, (_, i) => base + BigInt(i)),
      tokenIds: Uint32Array.from({ length: perEvent * BLOCK }, (_, i) => (e * 7919 + i * 31) % 1_000_003),
    };
  };
  const kinds: IngestRow["index"][] = [
    "events",
    "events (old)",
    "events+speculative listener",
    "own-key hashing alone",
  ];
  let sink = 0;
  const stores = kinds.map((kind) => {
    if (kind === "own-key hashing alone")
      return (e: ReturnType<typeof makeEvent>): void =>
        void (sink += hasher.chain(e.tokenIds, BLOCK, "").length);
    const spec = createSpeculativeIndex({ ttlMs: 2000, maxBlocks: 200_000, maxBlocksPerPod: 50_000 });
    const options = {
      hasher,
      maxBlocks: bound,
      ...(kind === "events+speculative listener" ? { listener: spec } : {}),
    };
    const index = kind === "events (old)" ? createOldEventIndex(options) : createEventIndex(options);
    const store = (e: ReturnType<typeof makeEvent>): void =>
      index.blockStored(e.pod, {
        blockHashes: e.blockHashes,
        parentBlockHash: undefined,
        tokenIds: e.tokenIds,
        blockSize: BLOCK,
        loraName: undefined,
      });
    while (index.size() < bound) store(makeEvent());
    return store;
  });
  // Slices of the three indexes alternate, so a busy machine slows each about as much.
  const perSlice: number[][] = kinds.map(() => []);
  for (let s = 0; s < slices; s++)
    stores.forEach((store, k) => {
      const batch = Array.from({ length: eventsPerSlice }, makeEvent);
      const t0 = performance.now();
      for (const e of batch) store(e);
      perSlice[k]?.push(((performance.now() - t0) * 1e6) / (eventsPerSlice * perEvent));
    });
  if (sink < 0) throw new Error("unreachable");
  const rows: IngestRow[] = kinds.map((kind, k) => {
    const ns = perSlice[k] ?? [];
    return {
      index: kind,
      blocks: slices * eventsPerSlice * perEvent,
      nsPerBlock: summarize(ns),
    };
  });
  return rows;
}
