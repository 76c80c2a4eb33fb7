/**
 * Keys hashed in a tokenizer worker equal keys hashed inline: the same requests through a preparer that encodes
 * and hashes everything on this thread (no workers) and one that sends long prompts to a real worker thread, which
 * returns token ids and the planned keys together. A counting wrapper around the real hasher shows which keys the
 * worker delivered (this thread hashed none of them) and which were hashed here on demand.
 */
import { isDeepStrictEqual } from "node:util";
import { aibrixPrefixHashes, createBlockHasher } from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { createPromptPreparer } from "../../src/prefix/prepare-prompt";
import type { ApproximateScheme, PromptPreparerOptions } from "../../src/prefix/prepare-prompt";
import type { InferenceRequest } from "../../src/request/inference-request";
import type { PreparedPrompt } from "../../src/routing/framework";
import { createTokenizerRegistry } from "../../src/tokenize";
import { CHEAP_INLINE_MAX } from "../../src/tokenize/registry";
import type { LocalTokenizerRegistry } from "../../src/tokenize";
import { CRAFTED_SAMPLES } from "../../src/tokenize/parity-sample";
import { qwen3MiniTokenizerJson } from "../tokenize/fixtures";
import { writeByteLevelTokenizer } from "../tokenize/synthetic";

jest.setTimeout(90_000);

const SEED = 7n;
/** Longer than every inline limit (the `character` one included). */
const SAMPLE = CRAFTED_SAMPLES.join("\n");
const LONG = SAMPLE.repeat(Math.ceil((CHEAP_INLINE_MAX * 1.5) / SAMPLE.length));

function request(over: Partial<InferenceRequest>): InferenceRequest {
  return {
    endpoint: "completions",
    path: "/v1/completions",
    model: "m",
    stream: false,
    includeUsage: false,
    user: undefined,
    maxTokens: undefined,
    prompt: { t: "text", text: LONG },
    promptTokens: 9,
    bodyBytes: 10,
    ...over,
  };
}

/**
 * `expect(got).toEqual(want)` for arrays of thousands of ids or keys, with jest's matcher only on a difference (for
 * its diff): toEqual costs ~50x node's own comparison, ~0.3 s of this file's CPU at ~25k-element arrays.
 */
function expectSameArray<T extends number | bigint>(got: ArrayLike<T>, want: ArrayLike<T>): void {
  const [a, b] = [Array.from(got), Array.from(want)];
  if (!isDeepStrictEqual(a, b)) expect(a).toEqual(b);
}

/** The real hasher, counting the block sizes this thread hashes. */
function counting(hasher: BlockHasher): { hasher: BlockHasher; sizes: number[] } {
  const sizes: number[] = [];
  return {
    sizes,
    hasher: {
      chain: (tokens, blockSize, context, parent) => {
        sizes.push(blockSize);
        return hasher.chain(tokens, blockSize, context, parent);
      },
    },
  };
}

const KVROUTE: ApproximateScheme = { t: "kvroute", blockSize: 16 };
const AIBRIX: ApproximateScheme = {
  t: "aibrix",
  blockBytes: 24,
  hash: (bytes, size) => aibrixPrefixHashes(bytes, size, SEED),
};

interface Pair {
  readonly inline: PreparedPrompt;
  readonly worker: PreparedPrompt;
  /** Block sizes the worker preparer hashed on this thread. */
  readonly hashedHere: readonly number[];
}

describe.each([
  ["character", "character"],
  // A BPE without a chat template (cl100k_base was one: ~0.3 s of CPU per load, three loads per row); "he" is one
  // token, every other byte its own.
  ["synthetic byte-level hf", `hf:${writeByteLevelTokenizer({ he: 256 }, ["h e"])}`],
  // Qwen3's pipeline and chat template with a small vocabulary: the keys' equality does not depend on its size.
  ["Qwen3 (first merges) hf", `hf:${qwen3MiniTokenizerJson()}`],
])("keys from a worker equal keys hashed inline (%s)", (_name, spec) => {
  let inlineRegistry: LocalTokenizerRegistry;
  let workerRegistry: LocalTokenizerRegistry;
  let base: BlockHasher;
  beforeAll(async () => {
    base = await createBlockHasher(SEED);
    inlineRegistry = createTokenizerRegistry({ defaultSpec: spec, workers: 0 });
    workerRegistry = createTokenizerRegistry({ defaultSpec: spec, workers: 1, workerThresholdChars: 1000 });
  });
  afterAll(async () => {
    await inlineRegistry.close();
    await workerRegistry.close();
  });

  async function both(
    req: InferenceRequest,
    context: string,
    approximate: ApproximateScheme,
    extra: Partial<PromptPreparerOptions> = {},
  ): Promise<Pair> {
    const inline = await createPromptPreparer({
      tokenizers: inlineRegistry,
      hasher: base,
      approximate,
      ...extra,
    })(req, context);
    const count = counting(base);
    const dispatched = workerRegistry.pool?.stats().dispatched ?? 0;
    const worker = await createPromptPreparer({
      tokenizers: workerRegistry,
      hasher: count.hasher,
      approximate,
      keysOffLoop: { seed: SEED, engineBlockSizes: () => [4, 7] },
      ...extra,
    })(req, context);
    expect(workerRegistry.pool?.stats().dispatched).toBe(dispatched + 1); // it did go to the worker
    return { inline, worker, hashedHere: count.sizes };
  }

  function expectSameKeys(p: Pair, sizes: readonly number[]): void {
    expect(p.worker.unavailableReason).toBeUndefined();
    expectSameArray(p.worker.tokens ?? [], p.inline.tokens ?? []);
    for (const size of sizes) {
      expect(p.inline.keys(size).length).toBeGreaterThan(0);
      expectSameArray(p.worker.keys(size), p.inline.keys(size));
    }
    expectSameArray(p.worker.approximateKeys?.() ?? [], p.inline.approximateKeys?.() ?? []);
  }

  it("text, kvroute scheme, a LoRA context: planned sizes from the worker, others on demand", async () => {
    const p = await both(request({}), "lora-a", KVROUTE);
    expectSameKeys(p, [16, 4, 7, 5]);
    expect(p.hashedHere).toEqual([5]); // 16 (approximate) and 4, 7 (engines) came from the worker
  });

  it("text, AIBrix scheme, bounded by maxBlocks", async () => {
    const p = await both(request({}), "", AIBRIX, { maxBlocks: 50 });
    expectSameKeys(p, [16, 4, 7]);
    expect(p.worker.keys(4).length).toBe(50);
    expect(p.worker.approximateKeys?.().length).toBe(50);
    expect(p.hashedHere).toEqual([16]); // AIBrix's approximate keys are byte blocks: 16-token keys only on demand
  });

  it("a chat (rendered with the chat template where the tokenizer has one)", async () => {
    const chat = [
      { role: "system", content: LONG.slice(0, 5000) },
      { role: "user", content: LONG },
    ];
    const req = request({
      endpoint: "chat-completions",
      path: "/v1/chat/completions",
      chat,
      prompt: { t: "text", text: chat.map((m) => m.content).join(" ") },
    });
    const p = await both(req, "", KVROUTE);
    expectSameKeys(p, [16, 4, 7]);
    expect(p.hashedHere).toEqual([]);
  });
});

describe("a prompt given as token ids", () => {
  it("is hashed in a worker when long, with the same keys as inline", async () => {
    const base = await createBlockHasher(SEED);
    const registry = createTokenizerRegistry({ defaultSpec: "character", workers: 1 });
    try {
      const ids = Array.from({ length: CHEAP_INLINE_MAX + 1000 }, (_, i) => (i * 7919) % 151_000);
      const req = request({ prompt: { t: "tokens", ids: [ids] } });
      const count = counting(base);
      const p = await createPromptPreparer({
        tokenizers: registry,
        hasher: count.hasher,
        approximate: KVROUTE,
        keysOffLoop: { seed: SEED, engineBlockSizes: () => [4] },
      })(req, "ctx");
      expect(registry.pool?.stats().dispatched).toBe(1);
      expectSameArray(p.tokens ?? [], ids);
      expectSameArray(p.keys(16), base.chain(ids, 16, "ctx"));
      expectSameArray(p.keys(4), base.chain(ids, 4, "ctx"));
      expect(count.sizes).toEqual([]);
      // A short one is hashed here, on demand, without a round trip.
      const short = await createPromptPreparer({
        tokenizers: registry,
        hasher: base,
        approximate: KVROUTE,
        keysOffLoop: { seed: SEED, engineBlockSizes: () => [4] },
      })(request({ prompt: { t: "tokens", ids: [ids.slice(0, 100)] } }), "");
      expectSameArray(short.keys(16), base.chain(ids.slice(0, 100), 16, ""));
      expect(registry.pool?.stats().dispatched).toBe(1);
    } finally {
      await registry.close();
    }
  });
});

describe("a long prompt given as token ids, with the worker unavailable", () => {
  it("is hashed here instead: its own ids never fail", async () => {
    const base = await createBlockHasher(SEED);
    const registry = createTokenizerRegistry({ defaultSpec: "character", workers: 1 });
    await registry.close(); // the pool now rejects every job with `closed`
    const ids = Array.from({ length: CHEAP_INLINE_MAX + 16 }, (_, i) => i % 1000);
    const p = await createPromptPreparer({
      tokenizers: registry,
      hasher: base,
      approximate: KVROUTE,
      keysOffLoop: { seed: SEED, engineBlockSizes: () => [] },
    })(request({ prompt: { t: "tokens", ids: [ids] } }), "");
    expect(p.unavailableReason).toBeUndefined();
    expectSameArray(p.tokens ?? [], ids);
    expectSameArray(p.keys(16), base.chain(ids, 16, ""));
  });
});
