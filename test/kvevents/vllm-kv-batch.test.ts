import { encodeTestBatch } from "../support/vllm-kv-batch";
import { fixtureFrames } from "./fake-vllm-publisher";

// The tests' payload encoder must produce vLLM's own bytes, or tests built on it prove nothing about vLLM.
describe("test-side KV-event batch encoder", () => {
  const frames = fixtureFrames("release_map");
  const h = (s: string): bigint => BigInt(s);

  it("encodes the captured release-layout frames byte for byte", () => {
    const ours = [
      encodeTestBatch(1_700_000_000.5, [
        {
          type: "BlockStored",
          blockHashes: [h("3236607068019569386"), h("2758186210834249151")],
          tokenIds: Array.from({ length: 32 }, (_, i) => i + 1),
          blockSize: 16,
        },
      ]),
      encodeTestBatch(1_700_000_001.5, [{ type: "BlockRemoved", blockHashes: [h("2758186210834249151")] }]),
      encodeTestBatch(1_700_000_002.5, [{ type: "AllBlocksCleared" }]),
      encodeTestBatch(1_700_000_003.5, [
        {
          type: "BlockStored",
          blockHashes: [h("3699816978767473736")],
          parentBlockHash: h("426223330554082776"),
          tokenIds: Array.from({ length: 16 }, (_, i) => i + 17),
          blockSize: 16,
          loraId: 1,
          loraName: "sql-lora",
        },
      ]),
    ];
    ours.forEach((payload, i) => expect(payload.toString("hex")).toBe(frames[i]?.payload.toString("hex")));
  });

  it("refuses an integer timestamp (it would not pack as vLLM's float)", () => {
    expect(() => encodeTestBatch(2, [])).toThrow(RangeError);
  });
});
