import { isDeepStrictEqual } from "node:util";
import { encode } from "@msgpack/msgpack";
import { decodeBatch, decodeBatchGeneric } from "../../src/kvevents/decode";
import { decodeBatchFast } from "../../src/kvevents/fast-decode";
import { encodeTestBatch } from "../support/vllm-kv-batch";
import { LAYOUTS, fixtureFrames } from "./fake-vllm-publisher";

/** Payloads of the shapes the fast path is for, plus odd-but-valid ones it must get exactly right or decline. */
function bases(): { name: string; payload: Uint8Array }[] {
  const out: { name: string; payload: Uint8Array }[] = [];
  for (const layout of LAYOUTS)
    fixtureFrames(layout).forEach((f, i) => out.push({ name: `${layout}#${i}`, payload: f.payload }));
  const hashes = [0xffff_ffff_ffff_fff0n, 5n, 1n << 40n];
  out.push({
    name: "prefill with LoRA extra keys",
    payload: encodeTestBatch(1_700_000_000.25, [
      {
        type: "BlockStored",
        blockHashes: hashes,
        parentBlockHash: 77n,
        tokenIds: Array.from({ length: 12 }, (_, i) => i * 40_000),
        blockSize: 4,
        loraId: 3,
        loraName: "sql-lora",
      },
      { type: "BlockRemoved", blockHashes: [5n] },
      { type: "AllBlocksCleared" },
    ]),
  });
  out.push({
    name: "legacy positional with odd numbers",
    payload: encode(
      [
        7,
        [
          [
            "BlockStored",
            [-3, 2 ** 40, new Uint8Array([1, 2, 3, 4, 5, 6, 7, 8, 9])],
            -1,
            [0, -5, 1.5, 70_000],
            2.0,
          ],
          ["BlockStored", [1], null, null, 1, 2, "GPU", "x", [[1, "a", true, null]], 0, "future"],
          ["BlockRemoved", [10], "CPU", 1, "REMOTE", "extra"],
          ["Unknown", { a: 1 }],
          ["AllBlocksCleared", 1, 2],
        ],
        0,
      ],
      { useBigInt64: true },
    ),
  });
  out.push({
    name: "map events with unknown keys and 64-bit fields",
    payload: encode(
      [
        1n,
        [
          { medium: "GPU", type: "BlockRemoved", block_hashes: [-1n, 3n], group_idx: 9n, locality: "L" },
          { type: "BlockStored", block_hashes: [], token_ids: [], block_size: null, new_key: [1, [2]] },
          { type: "Future", other: [1] },
        ],
        2n,
      ],
      { useBigInt64: true },
    ),
  });
  out.push({
    name: "unknown tag with a field the generic path never checks",
    payload: encode([1.5, [{ type: "Future", block_hashes: "not checked for unknown tags" }]]),
  });
  return out;
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(p: Uint8Array, r: () => number): Uint8Array {
  const b = Buffer.from(p);
  const at = Math.floor(r() * b.length);
  switch (Math.floor(r() * 4)) {
    case 0:
      b[at] = Math.floor(r() * 256);
      return b;
    case 1:
      return b.subarray(0, at);
    case 2:
      return Buffer.concat([b.subarray(0, at), Buffer.from([Math.floor(r() * 256)]), b.subarray(at)]);
    default:
      b[at] = (b[at] as number) ^ (1 << Math.floor(r() * 8));
      return b;
  }
}

describe("decodeBatchFast", () => {
  it.each(bases())("decodes $name exactly as the generic decoder does", ({ payload }) => {
    const generic = decodeBatchGeneric(payload);
    expect(generic.kind).toBe("batch");
    const fast = decodeBatchFast(payload);
    if (fast !== undefined) expect(fast).toStrictEqual(generic);
    expect(decodeBatch(payload)).toStrictEqual(generic);
  });

  it("takes vLLM's release and legacy layouts and a LoRA prefill; declines the map envelope and map values", () => {
    const taken = bases()
      .filter((b) => decodeBatchFast(b.payload) !== undefined)
      .map((b) => b.name);
    expect(taken).toEqual([
      ...fixtureFrames("release_map").map((_, i) => `release_map#${i}`),
      ...fixtureFrames("legacy_array").map((_, i) => `legacy_array#${i}`),
      "prefill with LoRA extra keys",
      "map events with unknown keys and 64-bit fields",
    ]);
  });

  it("never disagrees with the generic decoder on mutated payloads (fast result or none; same errors)", () => {
    const r = rng(12);
    let fastTaken = 0;
    let declined = 0;
    let fellThrough = 0;
    for (const { payload } of bases()) {
      for (let i = 0; i < 1500; i++) {
        const p = mutate(payload, r);
        const fast = decodeBatchFast(p);
        // The generic decoder (the reference, and most of this loop's CPU) runs where there is something to compare:
        // every payload the fast path took, and one in 8 of those it declined, where decodeBatch must give the
        // generic result, errors included. decodeBatch is `fast ?? generic`, so a fault in that wiring shows on
        // every declined payload; one in 8 still checks thousands of them.
        if (fast === undefined && declined++ % 8 !== 0) continue;
        const generic = decodeBatchGeneric(p);
        const decoded = decodeBatch(p);
        // jest's matcher only on a difference (for its diff): it costs ~50x node's comparison, thousands of times over.
        if (fast !== undefined) {
          fastTaken++;
          if (!isDeepStrictEqual(fast, generic)) expect(fast).toStrictEqual(generic);
        } else fellThrough++;
        if (!isDeepStrictEqual(decoded, generic)) expect(decoded).toStrictEqual(generic);
      }
    }
    expect(fastTaken).toBeGreaterThan(1000); // the comparison exercised the fast path, not only its bail-outs
    expect(fellThrough).toBeGreaterThan(1000); // and decodeBatch's fall-through to the generic decoder, errors included
  });
});
