/**
 * Prefix-index figures for `npm run bench -- kv`: lookup latency (block keys + match over 8 pods) for 1k/8k/32k/
 * 128k-token prompts next to a floor (the same keys checked against one plain `Set`), the same match through the
 * speculative view (`withSpeculation`) side by side, and heap bytes per indexed block for the three indexes.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { setFlagsFromString } from "node:v8";
import { runInNewContext } from "node:vm";
import { createApproximateIndex } from "../src/prefix/approximate-index";
import { createBlockHasher } from "../src/prefix/block-hasher";
import { createEventIndex } from "../src/prefix/event-index";
import { createSpeculativeIndex, withSpeculation } from "../src/prefix/speculative-index";

/** One prompt length's lookup figures. */
export interface LookupRow {
  readonly promptTokens: number;
  readonly blocks: number;
  /** Block keys of the prompt (hashing), µs. */
  readonly keysUs: number;
  /** `match` of the keys over 8 pods of the event index (one holds the whole prompt), µs. */
  readonly matchUs: number;
  /** Floor: the same keys looked up one by one in a plain Set, µs. */
  readonly floorUs: number;
  /** `matchUs`'s match through the speculative view with no speculative entries (the common case), µs. */
  readonly specNoneUs: number;
  /** …with the same pod's whole prompt also speculative (confirmed and guessed: the union loop), µs. */
  readonly specSameUs: number;
  /** …plus a second pod holding the whole prompt only speculatively (twice the blocks walked), µs. */
  readonly specOtherUs: number;
}

/** Memory per indexed block. */
export interface MemoryRow {
  readonly index: "approximate" | "events" | "speculative";
  readonly blocks: number;
  readonly bytesPerBlock: number;
}

const PODS = Array.from({ length: 8 }, (_, i) => `default/pod-${i}`);
const BLOCK = 16;

function gcFn(): () => void {
  setFlagsFromString("--expose_gc");
  return runInNewContext("gc") as () => void;
}

function timeUs(fn: () => void, minMs = 200): number {
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < minMs) {
    fn();
    n++;
  }
  return ((performance.now() - t0) * 1000) / n;
}

/** Lookup latency per prompt length. */
export async function benchLookups(): Promise<LookupRow[]> {
  const hasher = await createBlockHasher(0n);
  const rows: LookupRow[] = [];
  for (const promptTokens of [1024, 8192, 32768, 131072]) {
    const tokens = Uint32Array.from({ length: promptTokens }, (_, i) => (i * 2654435761) % 151_000);
    // A TTL far beyond the measurement, so no entry expires while it is timed.
    const spec = createSpeculativeIndex({ ttlMs: 3_600_000, maxBlocks: 100_000, maxBlocksPerPod: 100_000 });
    const events = createEventIndex({ hasher, maxBlocks: 10_000_000, listener: spec });
    const view = withSpeculation(events, spec);
    const hashes = Array.from({ length: promptTokens / BLOCK }, (_, i) => BigInt(i + 1));
    events.blockStored(PODS[3] as string, {
      blockHashes: hashes,
      parentBlockHash: undefined,
      tokenIds: tokens,
      blockSize: BLOCK,
      loraName: undefined,
    });
    const keys = hasher.chain(tokens, BLOCK, "");
    const floorSet = new Set<bigint>(keys);
    let sink = 0;
    const keysUs = timeUs(() => (sink += hasher.chain(tokens, BLOCK, "").length));
    const matchUs = timeUs(() => (sink += events.match(keys, PODS).size));
    const floorUs = timeUs(() => {
      for (const k of keys) if (floorSet.has(k)) sink++;
    });
    const specNoneUs = timeUs(() => (sink += view.match(keys, PODS).size));
    spec.add(PODS[3] as string, keys);
    const specSameUs = timeUs(() => (sink += view.match(keys, PODS).size));
    spec.add(PODS[5] as string, keys);
    const specOtherUs = timeUs(() => (sink += view.match(keys, PODS).size));
    rows.push({
      promptTokens,
      blocks: keys.length,
      keysUs,
      matchUs,
      floorUs,
      specNoneUs,
      specSameUs,
      specOtherUs,
    });
    if (sink < 0) throw new Error("unreachable");
  }
  return rows;
}

/** Approximate-index cost of one prompt at a full index (every add evicts) next to one with room, same run. */
export interface ApproximateFullRow {
  readonly promptBlocks: number;
  /** `add` of a new prompt into an index with room (no eviction), µs. */
  readonly addRoomUs: number;
  /** `add` of a new prompt into an index whose pod is at its bound (one eviction per block), µs. */
  readonly addFullUs: number;
  /** `match` over 8 pods at the full index (one pod holds the prompt), µs. */
  readonly matchFullUs: number;
}

/**
 * The approximate index as `prefix-cache` uses it with stale metrics: pods bounded by the fallback (65 536, the
 * default), prompts capped at 8 192 blocks (the default `--prefix-max-prompt-blocks`). Each timed `add` brings new
 * keys, so the full index evicts on every block.
 */
export function benchApproximateFull(promptBlocks = 8192, podBound = 65_536): ApproximateFullRow {
  let next = 1n;
  const fresh = (): BigUint64Array =>
    BigUint64Array.from({ length: promptBlocks }, () => (next++ * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn);
  const room = createApproximateIndex({ maxBlocks: 100_000_000, fallbackPerPodMaxBlocks: 100_000_000 });
  const full = createApproximateIndex({
    maxBlocks: PODS.length * podBound,
    fallbackPerPodMaxBlocks: podBound,
  });
  for (const pod of PODS) while (full.blocks(pod) < podBound) full.add(pod, fresh());
  // Keys are made outside the timed calls: a ring of prompts, each used once per pass.
  const prompts = Array.from({ length: 64 }, fresh);
  let i = 0;
  const nextPrompt = (): BigUint64Array => prompts[i++ % prompts.length] as BigUint64Array;
  const addRoomUs = timeUs(() => room.add(PODS[0] as string, nextPrompt()));
  const addFullUs = timeUs(() => full.add(PODS[0] as string, nextPrompt()));
  const held = nextPrompt();
  full.add(PODS[3] as string, held);
  let sink = 0;
  const matchFullUs = timeUs(() => (sink += full.match(held, PODS).size));
  if (sink < 0) throw new Error("unreachable");
  return { promptBlocks, addRoomUs, addFullUs, matchFullUs };
}

/** Heap bytes per block, measured with a forced GC before and after filling each index. */
export async function benchMemory(blocks = 400_000): Promise<MemoryRow[]> {
  const gc = gcFn();
  const hasher = await createBlockHasher(0n);
  const perPod = blocks / PODS.length;
  const measure = (fill: () => unknown): number => {
    gc();
    const before = process.memoryUsage().heapUsed;
    const keep = fill();
    gc();
    const after = process.memoryUsage().heapUsed;
    if (keep === undefined) throw new Error("index dropped");
    return (after - before) / blocks;
  };
  const approximate = measure(() => {
    const index = createApproximateIndex({ maxBlocks: blocks });
    for (const [p, pod] of PODS.entries()) {
      const keys = BigUint64Array.from(
        { length: perPod },
        (_, i) => BigInt(p * perPod + i + 1) * 0x9e3779b97f4a7c15n,
      );
      index.add(pod, keys);
    }
    return index;
  });
  const events = measure(() => {
    const index = createEventIndex({ hasher, maxBlocks: blocks });
    for (const [p, pod] of PODS.entries()) {
      const tokens = Uint32Array.from({ length: perPod * BLOCK }, (_, i) => (p * 7919 + i) % 151_000);
      index.blockStored(pod, {
        blockHashes: Array.from({ length: perPod }, (_, i) => BigInt(p * perPod + i + 1)),
        parentBlockHash: undefined,
        tokenIds: tokens,
        blockSize: BLOCK,
        loraName: undefined,
      });
    }
    return index;
  });
  const speculative = measure(() => {
    const index = createSpeculativeIndex({ ttlMs: 3_600_000, maxBlocks: blocks, maxBlocksPerPod: blocks });
    for (const [p, pod] of PODS.entries())
      index.add(
        pod,
        BigUint64Array.from({ length: perPod }, (_, i) => BigInt(p * perPod + i + 1) * 0x9e3779b97f4a7c15n),
      );
    return index;
  });
  return [
    { index: "approximate", blocks, bytesPerBlock: Math.round(approximate) },
    { index: "events", blocks, bytesPerBlock: Math.round(events) },
    { index: "speculative", blocks, bytesPerBlock: Math.round(speculative) },
  ];
}

/** The tables as printable lines. */
export function indexFigureLines(
  lookups: readonly LookupRow[],
  memory: readonly MemoryRow[],
  approximateFull?: ApproximateFullRow,
): string[] {
  const out: string[] = ["prefix lookup (8 pods, block 16 tokens)"];
  out.push(
    "prompt tokens   blocks   keys µs   match µs   floor µs   match ÷ floor   +spec: none   same pod   2nd pod",
  );
  const us = (x: number, w: number): string => x.toFixed(1).padStart(w);
  for (const r of lookups) {
    out.push(
      `${String(r.promptTokens).padStart(13)} ${String(r.blocks).padStart(8)} ${us(r.keysUs, 9)} ` +
        `${us(r.matchUs, 10)} ${us(r.floorUs, 10)} ${(r.matchUs / r.floorUs).toFixed(2).padStart(14)}× ` +
        `${us(r.specNoneUs, 13)} ${us(r.specSameUs, 10)} ${us(r.specOtherUs, 9)}`,
    );
  }
  out.push(
    "(+spec: the match through the speculative view — no entries; the same pod's prompt also speculative; and a",
    " second pod holding the prompt only speculatively, which walks twice the blocks)",
  );
  if (approximateFull) {
    const a = approximateFull;
    out.push(
      "",
      `approximate index, ${a.promptBlocks}-block prompt, pods at the fallback bound (stale metrics)`,
      `add with room ${us(a.addRoomUs, 9)} µs   add at full ${us(a.addFullUs, 9)} µs ` +
        `(${(a.addFullUs / a.addRoomUs).toFixed(2)}×)   match at full ${us(a.matchFullUs, 9)} µs`,
    );
  }
  out.push("", "memory per indexed block (heap, after GC)");
  for (const m of memory)
    out.push(`${m.index.padEnd(12)} ${m.blocks} blocks: ${m.bytesPerBlock} bytes/block`);
  return out;
}
