/**
 * One memory point of `npm run bench -- kv`, in its own process (so nothing another point allocated or fragmented
 * counts): `node --expose-gc dist/bench/kv-index-memory.js <index> <blocks>` fills one index with `blocks`
 * blocks over 8 pods, its bound equal to `blocks` (a full index), and prints one JSON line: heap and ArrayBuffer
 * bytes per block, each measured after a full GC before and after the fill. The index is kept alive across the
 * second measurement; the prompts and events used to fill it are garbage by then.
 *
 * @module
 */
import { createApproximateIndex } from "../src/prefix/approximate-index";
import { createBlockHasher } from "../src/prefix/block-hasher";
import { createEventIndex } from "../src/prefix/event-index";
import { createSpeculativeIndex } from "../src/prefix/speculative-index";
import { createApproximateIndex as createOldApproximateIndex } from "./approximate-index-baseline";
import { createEventIndex as createOldEventIndex } from "./event-index-baseline";
import { createSpeculativeIndex as createOldSpeculativeIndex } from "./speculative-index-baseline";

/** Index kinds a memory point can measure. */
export const MEMORY_KINDS = [
  "approximate",
  "approximate-old",
  "events",
  "events-old",
  "speculative",
  "speculative-old",
] as const;
export type MemoryKind = (typeof MEMORY_KINDS)[number];

/** What the child prints. */
export interface MemoryPoint {
  readonly kind: MemoryKind;
  readonly blocks: number;
  readonly heapPerBlock: number;
  readonly arrayBuffersPerBlock: number;
}

const PODS = Array.from({ length: 8 }, (_, i) => `default/pod-${i}`);
const BLOCK = 16;

function used(): { heap: number; buffers: number } {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (!gc) throw new Error("run with --expose-gc");
  gc();
  gc();
  const m = process.memoryUsage();
  return { heap: m.heapUsed, buffers: m.arrayBuffers };
}

/** Keys of pod p's prompt: distinct 64-bit values (a hash chain as far as the index can tell). */
function promptKeys(p: number, perPod: number): BigUint64Array {
  return BigUint64Array.from(
    { length: perPod },
    (_, i) => (BigInt(p * perPod + i + 1) * 0x9e3779b97f4a7c15n) & 0xffffffffffffffffn,
  );
}

async function main(kind: MemoryKind, blocks: number): Promise<MemoryPoint> {
  const hasher = await createBlockHasher(0n);
  const perPod = Math.floor(blocks / PODS.length);
  // Scratch the fill needs (per-event token arrays) is made inside the measured window but dropped before its end.
  const before = used();
  let keep: unknown;
  if (kind === "approximate" || kind === "approximate-old") {
    const create = kind === "approximate" ? createApproximateIndex : createOldApproximateIndex;
    const index = create({ maxBlocks: blocks });
    for (const [p, pod] of PODS.entries()) index.add(pod, promptKeys(p, perPod));
    keep = index;
  } else if (kind === "events" || kind === "events-old") {
    const create = kind === "events" ? createEventIndex : createOldEventIndex;
    const index = create({ hasher, maxBlocks: blocks });
    for (const [p, pod] of PODS.entries()) {
      // Events of 128 blocks, each continuing the previous one (as a long prefill's events do).
      let parent: bigint | undefined;
      for (let from = 0; from < perPod; from += 128) {
        const n = Math.min(128, perPod - from);
        const blockHashes = Array.from({ length: n }, (_, i) => BigInt(p * perPod + from + i + 1));
        const tokenIds = Uint32Array.from(
          { length: n * BLOCK },
          (_, i) => (p * 7919 + from * BLOCK + i) % 151_000,
        );
        index.blockStored(pod, {
          blockHashes,
          parentBlockHash: parent,
          tokenIds,
          blockSize: BLOCK,
          loraName: undefined,
        });
        parent = blockHashes[n - 1];
      }
    }
    keep = index;
  } else {
    const create = kind === "speculative" ? createSpeculativeIndex : createOldSpeculativeIndex;
    const index = create({ ttlMs: 3_600_000, maxBlocks: blocks, maxBlocksPerPod: blocks });
    for (const [p, pod] of PODS.entries()) index.add(pod, promptKeys(p, perPod));
    keep = index;
  }
  const after = used();
  if (keep === undefined) throw new Error("index dropped");
  const total = perPod * PODS.length;
  return {
    kind,
    blocks: total,
    heapPerBlock: (after.heap - before.heap) / total,
    arrayBuffersPerBlock: (after.buffers - before.buffers) / total,
  };
}

if (require.main === module) {
  const kind = process.argv[2] as MemoryKind;
  const blocks = Number(process.argv[3]);
  if (!MEMORY_KINDS.includes(kind) || !(blocks > 0)) {
    process.stderr.write(`usage: kv-index-memory.ts <${MEMORY_KINDS.join("|")}> <blocks>\n`);
    process.exit(2);
  }
  main(kind, blocks).then(
    (point) => process.stdout.write(`${JSON.stringify(point)}\n`),
    (err: unknown) => {
      process.stderr.write(`${String(err)}\n`);
      process.exit(1);
    },
  );
}
