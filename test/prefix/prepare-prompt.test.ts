/**
 * Prompt preparation: token-id prompts used as given, text through the model's tokenizer, chat through the chat
 * template when the tokenizer has one, failures as a prompt without tokens (counted), and both key schemes.
 */
import { createBlockHasher, aibrixPrefixHashes } from "../../src/prefix/block-hasher";
import { createPromptPreparer } from "../../src/prefix/prepare-prompt";
import type { InferenceRequest } from "../../src/request/inference-request";
import type { ChatMessage, Tokenizer, TokenizerRegistry } from "../../src/tokenize/tokenizer";
import { createTokenizerRegistry } from "../../src/tokenize";

function request(over: Partial<InferenceRequest>): InferenceRequest {
  return {
    endpoint: "completions",
    path: "/v1/completions",
    model: "m",
    stream: false,
    includeUsage: false,
    user: undefined,
    maxTokens: undefined,
    prompt: { t: "text", text: "abcdefghijklmnopqrstuvwxyz0123456789" },
    promptTokens: 9,
    bodyBytes: 10,
    ...over,
  };
}

describe("createPromptPreparer", () => {
  let registry: TokenizerRegistry;
  beforeAll(() => {
    registry = createTokenizerRegistry({ defaultSpec: "character", workers: 0 });
  });
  afterAll(async () => {
    await registry.close();
  });

  it("uses token-id prompts as given and keys them in the request's context", async () => {
    const hasher = await createBlockHasher(0n);
    const prepare = createPromptPreparer({
      tokenizers: registry,
      hasher,
      approximate: { t: "kvroute", blockSize: 4 },
    });
    const ids = Array.from({ length: 10 }, (_, i) => i + 1);
    const p = await prepare(request({ prompt: { t: "tokens", ids: [ids] } }), "lora-a");
    expect(Array.from(p.tokens ?? [])).toEqual(ids);
    expect(p.context).toBe("lora-a");
    expect(Array.from(p.keys(4))).toEqual(Array.from(hasher.chain(ids, 4, "lora-a")));
    expect(p.keys(4)).toBe(p.keys(4)); // memoized
    expect(p.approximateKeys).toBeUndefined();
  });

  it("tokenizes text with the model's tokenizer (character: UTF-8 bytes)", async () => {
    const hasher = await createBlockHasher(0n);
    const prepare = createPromptPreparer({
      tokenizers: registry,
      hasher,
      approximate: { t: "kvroute", blockSize: 16 },
    });
    const p = await prepare(request({ prompt: { t: "text", text: "héllo" } }), "");
    expect(Array.from(p.tokens ?? [])).toEqual([...Buffer.from("héllo", "utf8")]);
  });

  it("renders chats with the tokenizer's chat template when it has one", async () => {
    const seen: ChatMessage[][] = [];
    const chatty: Tokenizer = {
      name: "fake",
      encode: async () => Uint32Array.of(1),
      encodeChat: async (messages) => {
        seen.push([...messages]);
        return Uint32Array.of(7, 7, 7);
      },
    };
    const tokenizers: TokenizerRegistry = { forModel: () => chatty, close: async () => undefined };
    const prepare = createPromptPreparer({
      tokenizers,
      hasher: await createBlockHasher(0n),
      approximate: { t: "kvroute", blockSize: 16 },
    });
    const chat = [{ role: "user", content: "hi" }];
    const p = await prepare(request({ endpoint: "chat-completions", chat }), "");
    expect(Array.from(p.tokens ?? [])).toEqual([7, 7, 7]);
    expect(seen).toEqual([chat]);
  });

  it("a tokenizer failure yields no tokens, a reason, and a count", async () => {
    const failing: Tokenizer = {
      name: "remote",
      encode: async () => {
        throw Object.assign(new Error("down"), { reason: "timeout" });
      },
    };
    const reasons: string[] = [];
    const prepare = createPromptPreparer({
      tokenizers: { forModel: () => failing, close: async () => undefined },
      hasher: await createBlockHasher(0n),
      approximate: { t: "kvroute", blockSize: 16 },
      onUnavailable: (r) => reasons.push(r),
    });
    const p = await prepare(request({}), "");
    expect(p.tokens).toBeUndefined();
    expect(p.unavailableReason).toBe("timeout");
    expect(p.keys(16).length).toBe(0);
    expect(reasons).toEqual(["timeout"]);
  });

  it("with --prefix-hash aibrix, the approximate keys are AIBrix's byte blocks", async () => {
    const hasher = await createBlockHasher(5n);
    const prepare = createPromptPreparer({
      tokenizers: registry,
      hasher,
      approximate: { t: "aibrix", blockBytes: 8, hash: (bytes, size) => aibrixPrefixHashes(bytes, size, 5n) },
    });
    const text = "0123456789abcdefXYZ";
    const p = await prepare(request({ prompt: { t: "text", text } }), "");
    // character tokenizer: the token byte array is the UTF-8 text itself; 19 bytes → 2 full blocks of 8.
    expect(Array.from(p.approximateKeys?.() ?? [])).toEqual(
      Array.from(aibrixPrefixHashes(Buffer.from(text), 8, 5n)),
    );
    expect(p.approximateKeys?.().length).toBe(2);
  });

  it("hashes at most maxBlocks leading blocks per block size, in both schemes", async () => {
    const hasher = await createBlockHasher(5n);
    const text = "abcdefghijklmnopqrstuvwxyz0123456789"; // 36 characters
    const options = {
      tokenizers: registry,
      hasher,
      approximate: {
        t: "aibrix" as const,
        blockBytes: 4,
        hash: (bytes: Uint8Array, size: number) => aibrixPrefixHashes(bytes, size, 5n),
      },
    };
    const full = await createPromptPreparer(options)(request({ prompt: { t: "text", text } }), "");
    const capped = await createPromptPreparer({ ...options, maxBlocks: 3 })(
      request({ prompt: { t: "text", text } }),
      "",
    );
    expect(full.keys(4).length).toBe(9);
    expect(Array.from(capped.keys(4))).toEqual(Array.from(full.keys(4)).slice(0, 3));
    expect(Array.from(capped.keys(5))).toEqual(Array.from(full.keys(5)).slice(0, 3));
    expect(full.approximateKeys?.().length).toBe(9);
    expect(Array.from(capped.approximateKeys?.() ?? [])).toEqual(
      Array.from(full.approximateKeys?.() ?? []).slice(0, 3),
    );
    // The whole prompt is still tokenized (load estimates use its length).
    expect(capped.tokens?.length).toBe(36);
  });
});
