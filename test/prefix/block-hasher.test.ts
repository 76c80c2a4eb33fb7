import {
  aibrixCharacterBytes,
  aibrixPrefixHashes,
  aibrixTokenBytes,
  blockHasherFrom,
  createBlockHasher,
} from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { loadXxh64, type Xxh64 } from "../../src/prefix/xxhash";
import { range, SEED } from "./fixtures";

let hash: Xxh64;
let hasher: BlockHasher;

beforeAll(async () => {
  hash = await loadXxh64();
  hasher = await createBlockHasher(SEED);
});

/** Reference implementation of kvroute's scheme, written against Buffer rather than the DataView code path. */
function reference(tokens: readonly number[], blockSize: number, context: string, parent?: bigint): bigint[] {
  const out: bigint[] = [];
  let prev = parent ?? (context === "" ? SEED : hash(Buffer.from(context, "utf8"), SEED));
  for (let i = 0; i + blockSize <= tokens.length; i += blockSize) {
    const buf = Buffer.alloc(8 + 4 * blockSize);
    buf.writeBigUInt64LE(prev, 0);
    for (let j = 0; j < blockSize; j++) buf.writeUInt32LE(tokens[i + j] as number, 8 + 4 * j);
    prev = hash(buf, SEED);
    out.push(prev);
  }
  return out;
}

describe("xxh64 (xxhash-wasm)", () => {
  it.each<[string, bigint, bigint]>([
    ["", 0n, 0xef46db3751d8e999n],
    ["a", 0n, 0xd24ec4f1a98c6e5bn],
    ["abc", 0n, 0x44bc2cf5ad770999n],
  ])("xxh64(%j, %d) matches the published vector", (input, seed, expected) => {
    expect(hash(Buffer.from(input), seed)).toBe(expected);
  });

  it("reduces seeds modulo 2^64 and hashes views of a larger buffer", () => {
    expect(hash(new Uint8Array(0), (1n << 64n) + 5n)).toBe(hash(new Uint8Array(0), 5n));
    const big = Buffer.from("xxabcxx");
    expect(hash(big.subarray(2, 5), 0n)).toBe(0x44bc2cf5ad770999n);
  });
});

describe("createBlockHasher (kvroute scheme)", () => {
  it.each<[string, number, number, string]>([
    ["one block", 16, 16, ""],
    ["trailing partial block dropped", 40, 16, ""],
    ["LoRA context", 64, 16, "sql-lora"],
    ["block size 1", 5, 1, ""],
    ["shorter than a block", 7, 16, ""],
  ])("matches the documented bytes: %s", (_label, count, blockSize, context) => {
    const tokens = range(count, 100_000);
    expect(Array.from(hasher.chain(tokens, blockSize, context))).toEqual(
      reference(tokens, blockSize, context),
    );
  });

  it("encodes ids as unsigned 32-bit", () => {
    const tokens = [0xffffffff, 0, 1, 0x80000000];
    expect(Array.from(hasher.chain(tokens, 2, ""))).toEqual(reference(tokens, 2, ""));
  });

  it("is prefix-stable: a longer prompt starts with the shorter one's keys", () => {
    const short = hasher.chain(range(64), 16, "");
    const long = hasher.chain(range(200), 16, "");
    expect(Array.from(long.subarray(0, 4))).toEqual(Array.from(short));
    expect(long.length).toBe(12);
  });

  it("a different first block changes every later key", () => {
    const a = hasher.chain(range(64), 16, "");
    const b = hasher.chain([999, ...range(63, 2)], 16, "");
    for (let i = 0; i < 4; i++) expect(a[i]).not.toBe(b[i]);
  });

  it("context separates chains (base vs adapters)", () => {
    const tokens = range(32);
    const base = hasher.chain(tokens, 16, "");
    const l1 = hasher.chain(tokens, 16, "lora-a");
    const l2 = hasher.chain(tokens, 16, "lora-b");
    expect(new Set([base[0], l1[0], l2[0]]).size).toBe(3);
    expect(Array.from(hasher.chain(tokens, 16, "lora-a"))).toEqual(Array.from(l1));
  });

  it("chaining from a parent equals one long chain", () => {
    const tokens = range(96);
    const whole = hasher.chain(tokens, 16, "ctx");
    const head = hasher.chain(tokens.slice(0, 32), 16, "ctx");
    const tail = hasher.chain(tokens.slice(32), 16, "ctx", head[1]);
    expect([...Array.from(head), ...Array.from(tail)]).toEqual(Array.from(whole));
  });

  it("a different seed gives different keys", async () => {
    const other = await createBlockHasher(SEED + 1n);
    expect(other.chain(range(16), 16, "")[0]).not.toBe(hasher.chain(range(16), 16, "")[0]);
  });

  it("rejects a non-positive block size", () => {
    expect(() => hasher.chain(range(4), 0, "")).toThrow(RangeError);
  });
});

describe("chains in one WebAssembly call (little-endian hosts) equal the per-block reference", () => {
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

  it("for block sizes 1–40 (inputs under and over 32 bytes, odd and even), parents, contexts and odd ids", () => {
    const r = rng(7);
    const perBlock = blockHasherFrom(hash, SEED, true);
    for (let blockSize = 1; blockSize <= 40; blockSize++) {
      const count = Math.floor(r() * 6 * blockSize) + (blockSize >> 1);
      const tokens = Array.from({ length: count }, () => {
        const x = r();
        return x < 0.1
          ? -Math.floor(r() * 1000)
          : x < 0.2
            ? 0x8000_0000 + Math.floor(r() * 1e9)
            : Math.floor(r() * 200_000);
      });
      const parent = r() < 0.5 ? undefined : BigInt(Math.floor(r() * 2 ** 52)) << 12n;
      const context = r() < 0.3 ? "lora-x" : "";
      const want = Array.from(perBlock.chain(tokens, blockSize, context, parent));
      expect(Array.from(hasher.chain(tokens, blockSize, context, parent))).toEqual(want);
      expect(Array.from(hasher.chain(Uint32Array.from(tokens), blockSize, context, parent))).toEqual(want);
      expect(Array.from(hasher.chain(Int32Array.from(tokens), blockSize, context, parent))).toEqual(want);
    }
  });

  it("after a chain that outgrows the kept memory (a new module), later chains are still right", () => {
    const perBlock = blockHasherFrom(hash, SEED, true);
    const big = range(1_200_000);
    const last = hasher.chain(big, 16, "");
    expect(last.length).toBe(75_000);
    expect(last[74_999]).toBe(perBlock.chain(big, 16, "")[74_999]);
    expect(Array.from(hasher.chain(range(40), 4, ""))).toEqual(reference(range(40), 4, ""));
  });
});

describe("aibrixPrefixHashes (AIBrix scheme)", () => {
  /** AIBrix reference: h_{-1} = seed, h_i = xxh64(seed, LE64(h_{i-1}) ‖ block bytes). */
  function aibrixReference(bytes: Uint8Array, blockBytes: number, seed: bigint): bigint[] {
    const out: bigint[] = [];
    let prev = seed;
    for (let i = 0; i + blockBytes <= bytes.length; i += blockBytes) {
      const buf = Buffer.alloc(8 + blockBytes);
      buf.writeBigUInt64LE(prev, 0);
      buf.set(bytes.subarray(i, i + blockBytes), 8);
      prev = hash(buf, seed);
      out.push(prev);
    }
    return out;
  }

  it("chains byte blocks from the seed and drops the tail", () => {
    const bytes = aibrixCharacterBytes("hello world, this is a prompt!");
    const got = aibrixPrefixHashes(bytes, 4, 42n);
    expect(got.length).toBe(7);
    expect(Array.from(got)).toEqual(aibrixReference(bytes, 4, 42n));
  });

  it("first block of 4 bytes 'abcd' with seed 0 is xxh64(LE64(0) ‖ 'abcd')", () => {
    const expected = hash(Buffer.concat([Buffer.alloc(8), Buffer.from("abcd")]), 0n);
    expect(aibrixPrefixHashes(Buffer.from("abcdef"), 4, 0n)[0]).toBe(expected);
  });

  it("token ids are 4-byte big-endian", () => {
    expect(Array.from(aibrixTokenBytes([1, 0x01020304]))).toEqual([0, 0, 0, 1, 1, 2, 3, 4]);
    const bytes = aibrixTokenBytes(range(64));
    expect(Array.from(aibrixPrefixHashes(bytes, 128, 7n))).toEqual(aibrixReference(bytes, 128, 7n));
  });
});
