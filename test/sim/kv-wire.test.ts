import { decodeBatch, isDecodeError } from "../../src/kvevents/decode";
import { encodeKvEventBatch, seq8, wireEvents } from "../../src/sim/server/kv-wire";
import type { WireEvent } from "../../src/sim/server/kv-wire";
import { encodeMsgpack, Float64 } from "../../src/sim/server/msgpack-writer";
import { fixtureFrames } from "../kvevents/fake-vllm-publisher";

const TOKENS_1_32 = Array.from({ length: 32 }, (_, i) => i + 1);
const H0 = 3236607068019569386n;
const H1 = 2758186210834249151n;

describe("KV-event payload encoding (vLLM v0.24+ release layout)", () => {
  const frames = fixtureFrames("release_map");

  // The fixture was captured from vLLM's own publisher (msgspec); equal bytes prove wire compatibility.
  it.each<[number, number, WireEvent[]]>([
    [
      0,
      1700000000.5,
      [
        {
          type: "BlockStored",
          blockHashes: [H0, H1],
          parentBlockHash: undefined,
          tokenIds: TOKENS_1_32,
          blockSize: 16,
        },
      ],
    ],
    [1, 1700000001.5, [{ type: "BlockRemoved", blockHashes: [H1] }]],
    [2, 1700000002.5, [{ type: "AllBlocksCleared" }]],
    [
      3,
      1700000003.5,
      [
        {
          type: "BlockStored",
          blockHashes: [3699816978767473736n],
          parentBlockHash: 426223330554082776n,
          tokenIds: TOKENS_1_32.slice(16),
          blockSize: 16,
          loraId: 1,
          loraName: "sql-lora",
        },
      ],
    ],
  ])("frame %i equals vLLM's bytes", (i, ts, events) => {
    expect(encodeKvEventBatch(ts, events).toString("hex")).toBe(frames[i]?.payload.toString("hex"));
    expect(seq8(BigInt(i)).equals(frames[i]?.seq ?? Buffer.alloc(0))).toBe(true);
  });

  it("decodes with kvroute's decoder, hashes intact above 2^53", () => {
    const events = wireEvents(
      [
        {
          t: "stored",
          blockHashes: [H0, 7n],
          parentHash: 2n ** 64n - 1n,
          tokenIds: TOKENS_1_32,
          blockSize: 16,
          lora: "a",
        },
        { t: "removed", blockHashes: [H0, 7n] },
        { t: "cleared" },
      ],
      () => 3,
    );
    const b = decodeBatch(encodeKvEventBatch(1700000000, events));
    if (isDecodeError(b)) throw new Error(b.detail);
    expect(b.ts).toBe(1700000000);
    expect(b.dataParallelRank).toBe(0);
    expect(b.events).toEqual([
      expect.objectContaining({
        tag: "BlockStored",
        blockHashes: [H0, 7n],
        parentBlockHash: 2n ** 64n - 1n,
        blockSize: 16,
        loraId: 3,
        loraName: "a",
        medium: "GPU",
        groupIdx: 0,
        extraKeys: [["a"], ["a"]],
      }),
      // vLLM emits one BlockRemoved per evicted hash.
      { tag: "BlockRemoved", blockHashes: [H0], medium: "GPU", groupIdx: 0 },
      { tag: "BlockRemoved", blockHashes: [7n], medium: "GPU", groupIdx: 0 },
      { tag: "AllBlocksCleared" },
    ]);
  });

  it("writes msgspec's smallest integer forms and float64 timestamps", () => {
    expect(encodeMsgpack([0, 127, 128, 65536, 2n ** 32n - 1n, 2n ** 32n, -1, -33]).toString("hex")).toBe(
      "98007fcc80ce00010000ceffffffffcf0000000100000000ffd0df",
    );
    // An integral timestamp stays a float64, as Python's float does.
    expect(encodeMsgpack(new Float64(2)).toString("hex")).toBe("cb4000000000000000");
    expect(encodeMsgpack("x".repeat(40)).subarray(0, 2).toString("hex")).toBe("d928");
  });
});
