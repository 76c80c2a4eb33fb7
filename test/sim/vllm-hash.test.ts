/**
 * The simulator's own implementation of vLLM's `sha256_cbor` block hash, checked against the hash vectors computed
 * by vLLM's code (PYTHONHASHSEED=0, block size 16) in the captured fixture, directly and through the engine.
 */
import { createSimEngine, virtualClock } from "../../src/sim/engine";
import type { SimKvEvent } from "../../src/sim/engine";
import { blockDigest, noneHash, publishedHash } from "../../src/sim/engine/vllm-hash";
import fixture from "../kvevents/fixtures/vllm-kv-events-frames.json";

const v = fixture.hash_vectors;
const tokens = v.token_ids;
const at = (i: number): number => tokens[i] ?? -1;

/** The chain of `blocks` blocks of the vector's tokens, each block's extra keys from `extra`. */
function chain(blocks: number, extra: (i: number) => string[] | undefined): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < blocks; i++)
    out.push(
      blockDigest(out[i - 1] ?? noneHash(v.PYTHONHASHSEED), at, i * v.block_size, v.block_size, extra(i)),
    );
  return out;
}

describe("vLLM sha256_cbor block hash", () => {
  it("NONE_HASH is sha256 of the CBOR seed string", () => {
    expect(noneHash(v.PYTHONHASHSEED).toString("hex")).toBe(v.none_hash_hex);
  });

  it("plain blocks: digests and published ints equal vLLM's", () => {
    const d = chain(2, () => undefined);
    expect(d.map((x) => x.toString("hex"))).toEqual(v.plain_block_hashes_hex);
    expect(d.map((x) => publishedHash(x).toString())).toEqual(v.plain_block_hashes_u64);
  });

  it("LoRA blocks with a cache salt on block 0: equal vLLM's", () => {
    const d = chain(2, (i) => v.lora_extra_keys[i]);
    expect(d.map((x) => x.toString("hex"))).toEqual(v.lora_block_hashes_hex);
    expect(d.map((x) => publishedHash(x).toString())).toEqual(v.lora_block_hashes_u64);
  });

  it("integer CBOR heads: ids past one byte, two bytes and four bytes", () => {
    // Different ids must give different digests, and the same ids the same one (encoding is deterministic).
    const ids = [23, 24, 255, 256, 65_535, 65_536, 151_643, 4_294_967_295];
    const d = (xs: number[]): string =>
      blockDigest(noneHash("0"), (i) => xs[i] ?? 0, 0, xs.length, undefined).toString("hex");
    expect(d(ids)).toBe(d([...ids]));
    expect(new Set(ids.map((_, i) => d(ids.map((x, j) => (j === i ? x + 1 : x))))).size).toBe(ids.length);
  });

  it("an engine with blockHash sha256_cbor publishes vLLM's hashes", () => {
    const clock = virtualClock();
    const engine = createSimEngine(
      {
        numGpuBlocks: 64,
        blockSize: v.block_size,
        maxNumSeqs: 4,
        maxNumBatchedTokens: 256,
        prefillSecondsPerToken: 0.001,
        decodeStepBaseSeconds: 0.01,
        decodeStepPerSeqSeconds: 0,
        decodeStepPerKvTokenSeconds: 0,
        blockHash: "sha256_cbor",
        pythonHashSeed: v.PYTHONHASHSEED,
      },
      clock,
    );
    const events: SimKvEvent[] = [];
    engine.onKvEvents((e) => events.push(...e));
    let done = false;
    engine.submit({
      id: "r",
      tokens: Uint32Array.from(tokens),
      maxTokens: 1,
      onFirstToken: () => undefined,
      onToken: () => undefined,
      onDone: () => (done = true),
    });
    clock.runUntilIdle();
    engine.stop();
    expect(done).toBe(true);
    const stored = events.flatMap((e) => (e.t === "stored" ? e.blockHashes : []));
    expect(stored.map(String)).toEqual(v.plain_block_hashes_u64);
  });
});
