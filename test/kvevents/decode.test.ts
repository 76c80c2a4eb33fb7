import { encode } from "@msgpack/msgpack";
import { decodeBatch, isDecodeError, normaliseHash } from "../../src/kvevents";
import type { DecodedBatch, KvEvent } from "../../src/kvevents";
import { LAYOUTS, fixture, fixtureFrames } from "./fake-vllm-publisher";

function ok(payload: Uint8Array): DecodedBatch {
  const r = decodeBatch(payload);
  if (isDecodeError(r)) throw new Error(`unexpected decode error ${r.reason}: ${r.detail}`);
  return r;
}

const vectors = fixture.hash_vectors;
const u64 = (s: string): bigint => BigInt(s);
const tokens = (from: number, n: number): number[] => Array.from({ length: n }, (_, i) => from + i);

/** What every layout must decode to (only the fields the layouts share). */
const expected: { ts: number; events: KvEvent[] }[] = [
  {
    ts: 1700000000.5,
    events: [
      {
        tag: "BlockStored",
        blockHashes: vectors.plain_block_hashes_u64.map(u64),
        parentBlockHash: undefined,
        tokenIds: tokens(1, 32),
        blockSize: 16,
        loraId: undefined,
        medium: "GPU",
        loraName: undefined,
        extraKeys: [null, null],
        groupIdx: 0,
      },
    ],
  },
  {
    ts: 1700000001.5,
    events: [
      {
        tag: "BlockRemoved",
        blockHashes: [u64(vectors.plain_block_hashes_u64[1]!)],
        medium: "GPU",
        groupIdx: 0,
      },
    ],
  },
  { ts: 1700000002.5, events: [{ tag: "AllBlocksCleared" }] },
  {
    ts: 1700000003.5,
    events: [
      {
        tag: "BlockStored",
        blockHashes: [u64(vectors.lora_block_hashes_u64[1]!)],
        parentBlockHash: u64(vectors.lora_block_hashes_u64[0]!),
        tokenIds: tokens(17, 16),
        blockSize: 16,
        loraId: 1,
        medium: "GPU",
        loraName: "sql-lora",
        extraKeys: [["sql-lora"]],
        groupIdx: 0,
      },
    ],
  },
  {
    ts: 1700000004.5,
    events: [
      {
        tag: "BlockStored",
        blockHashes: [u64(vectors.plain_block_hashes_u64[0]!)],
        parentBlockHash: undefined,
        tokenIds: tokens(1, 16),
        blockSize: 16,
        loraId: undefined,
        medium: "GPU",
        loraName: undefined,
        extraKeys: [null],
        groupIdx: 0,
      },
      {
        tag: "BlockRemoved",
        blockHashes: [u64(vectors.plain_block_hashes_u64[0]!)],
        medium: "GPU",
        groupIdx: 0,
      },
    ],
  },
];

describe("decodeBatch on the fixture", () => {
  it.each(LAYOUTS)("decodes every %s frame to the expected events", (layout) => {
    const frames = fixtureFrames(layout);
    expect(frames).toHaveLength(5);
    frames.forEach((f, i) => {
      const b = ok(f.payload);
      expect(b.ts).toBe(expected[i]!.ts);
      expect(b.events).toEqual(expected[i]!.events);
      expect(b.dataParallelRank).toBe(0);
      expect(b.unknownTags).toBe(0);
    });
  });

  it("gives identical events for all three layouts", () => {
    const decoded = LAYOUTS.map((l) => fixtureFrames(l).map((f) => ok(f.payload).events));
    expect(decoded[1]).toEqual(decoded[0]);
    expect(decoded[2]).toEqual(decoded[0]);
  });

  it("keeps the uint64 hash test vectors exact (no float rounding)", () => {
    const b = ok(fixtureFrames("release_map")[0]!.payload);
    const ev = b.events[0];
    if (ev?.tag !== "BlockStored") throw new Error("expected BlockStored");
    expect(ev.blockHashes).toEqual([3236607068019569386n, 2758186210834249151n]);
    expect(ev.blockHashes.map(String)).toEqual(vectors.plain_block_hashes_u64);
  });

  it("folds 32-byte digests to their LAST 8 bytes big-endian (as vLLM's int mode)", () => {
    vectors.plain_block_hashes_hex.forEach((hex, i) => {
      expect(normaliseHash(Buffer.from(hex, "hex"))).toBe(BigInt(vectors.plain_block_hashes_u64[i]!));
    });
    vectors.lora_block_hashes_hex.forEach((hex, i) => {
      expect(normaliseHash(Buffer.from(hex, "hex"))).toBe(BigInt(vectors.lora_block_hashes_u64[i]!));
    });
    // AIBrix's first-8-bytes fold would give 0x202da172482d928b here instead.
    expect(normaliseHash(Buffer.from(vectors.plain_block_hashes_hex[0]!, "hex"))).not.toBe(
      0x202da172482d928bn,
    );
    expect(normaliseHash(Uint8Array.of(1, 2))).toBe(0x0102n);
  });

  it("maps legacy negative int64 hashes to unsigned 64-bit and keeps small ints exact", () => {
    expect(normaliseHash(-1n)).toBe(0xffffffffffffffffn);
    expect(normaliseHash(-2)).toBe(0xfffffffffffffffen);
    expect(normaliseHash(7)).toBe(7n);
    const b = ok(encode([1.5, [["BlockRemoved", [-1, 5, 2 ** 40]]]], { useBigInt64: true }));
    expect(b.events[0]).toEqual({
      tag: "BlockRemoved",
      blockHashes: [0xffffffffffffffffn, 5n, 2n ** 40n],
      medium: undefined,
      groupIdx: undefined,
    });
    expect(b.dataParallelRank).toBeUndefined();
  });
});

describe("decodeBatch on other and malformed payloads", () => {
  it("skips and counts unknown tags, ignores unknown keys and trailing elements", () => {
    const b = ok(
      encode([
        2.5,
        [
          ["FutureEvent", 1, 2],
          { type: "AlsoUnknown" },
          { type: "BlockRemoved", block_hashes: [9], medium: "GPU", locality: "LOCAL", new_key: 1 },
          ["BlockRemoved", [10], "CPU", 1, "REMOTE", "extra"],
        ],
        3,
      ]),
    );
    expect(b.unknownTags).toBe(2);
    expect(b.dataParallelRank).toBe(3);
    expect(b.events).toEqual([
      { tag: "BlockRemoved", blockHashes: [9n], medium: "GPU", groupIdx: undefined },
      { tag: "BlockRemoved", blockHashes: [10n], medium: "CPU", groupIdx: 1 },
    ]);
  });

  it("accepts the oldest positional BlockStored (5 fields) and offload events without block_size", () => {
    const b = ok(
      encode([
        1,
        [
          ["BlockStored", [1], null, [1, 2], 2, null],
          { type: "BlockStored", block_hashes: [2], medium: "CPU" },
        ],
      ]),
    );
    expect(b.events.map((e) => (e.tag === "BlockStored" ? [e.blockSize, e.medium] : null))).toEqual([
      [2, undefined],
      [0, "CPU"],
    ]);
  });

  it.each([
    ["empty", Buffer.alloc(0)],
    ["msgpack", Buffer.from("93cb41d9", "hex")], // truncated
    ["msgpack", Buffer.from("9000", "hex")], // trailing byte
    ["msgpack", Buffer.from("c1", "hex")], // reserved type code
    ["shape", encode("hello")],
    ["shape", encode([1.5])],
    ["shape", encode(["ts", []])],
    ["shape", encode([1.5, {}])],
    ["shape", encode([1.5, [42]])],
    ["shape", encode([1.5, [[7, 1]]])],
    ["shape", encode([1.5, [["BlockStored", [1], null, "tokens", 16]]])],
    ["shape", encode([1.5, [["BlockStored", [1], null, [1], 16, null, 5]]])],
    ["shape", encode([1.5, [["BlockRemoved", 5]]])],
    ["shape", encode({ ts: 1, events: [], data_parallel_rank: "zero" })],
    ["hash", encode([1.5, [["BlockRemoved", ["abc"]]]])],
    ["hash", encode([1.5, [["BlockRemoved", [1.5]]]])],
    ["hash", encode([1.5, [["BlockRemoved", [new Uint8Array(0)]]]])],
    ["hash", encode([1.5, [["BlockStored", [1], true, [1], 16]]])],
  ])("rejects a %s error without throwing (%#)", (reason, payload) => {
    const r = decodeBatch(payload);
    expect(isDecodeError(r)).toBe(true);
    if (isDecodeError(r)) {
      expect(r.reason).toBe(reason);
      expect(typeof r.detail).toBe("string");
    }
  });
});
