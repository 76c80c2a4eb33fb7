/**
 * KV-event payloads a hostile or broken engine could publish, aimed at the decoders' allocation and recursion:
 * array headers that claim far more elements than the payload holds, nested in each other, and nesting deep
 * enough to overflow a recursive reader. Each must end in a counted decode error (or the batch the reference gives),
 * never a thrown exception and never an allocation proportional to what the headers claim.
 */
import { encode } from "@msgpack/msgpack";
import { decodeBatch, decodeBatchGeneric } from "../../src/kvevents/decode";
import { decodeBatchFast } from "../../src/kvevents/fast-decode";
import { MAX_MSGPACK_DEPTH, msgpackBoundsProblem } from "../../src/kvevents/msgpack-bounds";

/** `[1, [["BlockStored", [1], nil, [], 16, nil, nil, nil, <extra>]]]` with `extra` given as raw msgpack bytes. */
function storedWithExtraKeys(extra: readonly number[]): Uint8Array {
  const head = [0x92, 0x01, 0x91, 0x99, 0xab, ...Buffer.from("BlockStored"), 0x91, 0x01, 0xc0, 0x90, 0x10];
  return Uint8Array.from([...head, 0xc0, 0xc0, 0xc0, ...extra]);
}

/** `depth` copies of `header` followed by a nil: arrays nested in each other, each claiming what `header` says. */
function nested(header: readonly number[], depth: number): number[] {
  const out: number[] = [];
  for (let i = 0; i < depth; i++) out.push(...header);
  out.push(0xc0);
  return out;
}

describe("hostile KV-event payloads", () => {
  it("refuses nested array16 headers that claim 65 535 elements each without allocating for the claims", () => {
    // 1 500 headers of 3 bytes: ~4.5 KB that claimed ~100 M elements (~400 MB per decoder that trusted them).
    const payload = storedWithExtraKeys(nested([0xdc, 0xff, 0xff], 1500));
    const before = process.memoryUsage().heapUsed;
    const result = decodeBatch(payload);
    const grown = process.memoryUsage().heapUsed - before;
    expect(result).toMatchObject({ kind: "error", reason: "msgpack" });
    expect(grown).toBeLessThan(64 * 1024 * 1024);
  });

  it("turns nesting 100 000 deep into a decode error instead of a stack overflow thrown out of decodeBatch", () => {
    const payload = storedWithExtraKeys(nested([0x91], 100_000));
    expect(() => decodeBatchFast(payload)).not.toThrow();
    expect(decodeBatch(payload)).toMatchObject({ kind: "error", reason: "msgpack" });
    expect(decodeBatchGeneric(payload)).toMatchObject({ kind: "error", reason: "msgpack" });
  });

  it("agrees with the reference at nesting depths around both bounds (fast path bails, generic decides)", () => {
    for (const depth of [
      1,
      15,
      16,
      17,
      40,
      MAX_MSGPACK_DEPTH - 4,
      MAX_MSGPACK_DEPTH - 3,
      MAX_MSGPACK_DEPTH,
    ]) {
      const payload = storedWithExtraKeys(nested([0x91], depth));
      const generic = decodeBatchGeneric(payload);
      const fast = decodeBatchFast(payload);
      if (fast !== undefined) expect(fast).toStrictEqual(generic);
      expect(decodeBatch(payload)).toStrictEqual(generic);
      // The payload's root is 3 levels above the extra keys (envelope, events, event).
      expect(generic.kind).toBe(depth + 3 <= MAX_MSGPACK_DEPTH ? "batch" : "error");
    }
  });

  it("refuses an array32 header claiming 2^32 − 1 elements with no data, on both paths", () => {
    const payload = Uint8Array.from([0x92, 0x01, 0xdd, 0xff, 0xff, 0xff, 0xff]);
    expect(decodeBatchFast(payload)).toBeUndefined();
    expect(decodeBatch(payload)).toMatchObject({ kind: "error", reason: "msgpack" });
  });

  it("finds nothing wrong with well-formed values, and reports claims, truncation and reserved codes", () => {
    const sound = encode(
      [1.5, [["BlockStored", [2n ** 64n - 1n], null, [1, 2], 16]], "x".repeat(300), { a: [] }],
      {
        useBigInt64: true,
      },
    );
    expect(msgpackBoundsProblem(sound)).toBeUndefined();
    expect(msgpackBoundsProblem(Uint8Array.from([0xde, 0x00, 0x02, 0x01, 0x02, 0x03]))).toMatch(/claims 4/);
    expect(msgpackBoundsProblem(Uint8Array.from([0x92, 0xcb, 0x00]))).toBe("truncated");
    expect(msgpackBoundsProblem(Uint8Array.from([0x91, 0xc1]))).toMatch(/reserved/);
    expect(msgpackBoundsProblem(Uint8Array.from(nested([0x91], 3)), 2)).toMatch(/deeper than 2/);
    expect(msgpackBoundsProblem(Uint8Array.from(nested([0x91], 2)), 2)).toBeUndefined();
  });
});
