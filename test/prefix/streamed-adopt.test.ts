/**
 * The preparer and a streamed prompt: used (no tokenizer runs, the keys are the ordinary ones) only when it is the
 * parsed request's prompt in the director's context with every planned block size; otherwise the ordinary path
 * runs and the reason is counted.
 */
import { createBlockHasher } from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { createPromptPreparer } from "../../src/prefix/prepare-prompt";
import type { PromptPreparerOptions } from "../../src/prefix/prepare-prompt";
import { chainKeys } from "../../src/prefix/prompt-keys";
import type { StreamedOutcome } from "../../src/prefix/streamed-adopt";
import { createPromptStream } from "../../src/prefix/streamed-prompt";
import type { StreamedPrompt } from "../../src/prefix/streamed-prompt";
import type { PromptShape } from "../../src/prefix/json-prompt-scan";
import { parseRequest } from "../../src/request/parse";
import type { InferenceRequest } from "../../src/request/inference-request";
import { createTokenizerRegistry } from "../../src/tokenize";
import type { LocalTokenizerRegistry } from "../../src/tokenize/registry";

let hasher: BlockHasher;
let registry: LocalTokenizerRegistry;
beforeAll(async () => {
  hasher = await createBlockHasher(99n);
  registry = createTokenizerRegistry({
    defaultSpec: "character",
    perModel: { tk: { type: "tiktoken" } },
    workers: 0,
  });
});
afterAll(async () => {
  await registry.close();
});

const PATH: Record<PromptShape, string> = { chat: "/v1/chat/completions", completions: "/v1/completions" };
const parse = (shape: PromptShape, text: string): InferenceRequest =>
  parseRequest(PATH[shape], Buffer.from(text), { maxBodyBytes: 1 << 20 });

/** Stream `text` in 5-byte chunks, hashing 16-token blocks; `characterModel` as told (a stale answer, say). */
function streamed(shape: PromptShape, text: string, sizes = [16], context = ""): StreamedPrompt {
  const s = createPromptStream(shape, {
    hasher,
    blockSizes: sizes,
    maxBlocks: 4,
    contextFor: () => context,
    characterModel: () => true,
  });
  const bytes = Buffer.from(text);
  for (let at = 0; at < bytes.length; at += 5) s.push(bytes.subarray(at, at + 5));
  const out = s.end();
  if (!out) throw new Error("the stream abandoned");
  return out;
}

function preparer(outcomes: StreamedOutcome[], over: Partial<PromptPreparerOptions> = {}) {
  return createPromptPreparer({
    tokenizers: registry,
    hasher,
    approximate: { t: "kvroute", blockSize: 16 },
    maxBlocks: 4,
    onStreamed: (o) => outcomes.push(o),
    ...over,
  });
}

const CHAT = JSON.stringify({
  model: "m1",
  messages: [
    { role: "system", content: "sé 😀 ".repeat(20) },
    { role: "user", content: "the question, at length ".repeat(10) },
  ],
});

describe("the preparer with a streamed prompt", () => {
  it("uses it when it matches: the ordinary keys and tokens, counted as used", async () => {
    const outcomes: StreamedOutcome[] = [];
    const request = parse("chat", CHAT);
    const p = await preparer(outcomes)(request, "", streamed("chat", CHAT));
    const text = request.prompt.t === "text" ? request.prompt.text : "";
    const tokens = Uint32Array.from(Buffer.from(text));
    expect(outcomes).toEqual(["used"]);
    expect(p.tokens).toEqual(tokens);
    expect(p.keys(16)).toEqual(chainKeys(hasher, tokens, 16, "", 4));
    // A size the stream did not hash is hashed on demand from its tokens, as for any prompt.
    expect(p.keys(8)).toEqual(chainKeys(hasher, tokens, 8, "", 4));
  });

  it("token-id prompts too", async () => {
    const outcomes: StreamedOutcome[] = [];
    const text = JSON.stringify({ model: "tk", prompt: Array.from({ length: 100 }, (_, i) => i * 3) });
    const p = await preparer(outcomes)(parse("completions", text), "", streamed("completions", text));
    expect(outcomes).toEqual(["used"]);
    expect(p.keys(16)).toEqual(chainKeys(hasher, Uint32Array.from(p.tokens ?? []), 16, "", 4));
  });

  it.each([
    { why: "another context", sent: CHAT, parsed: CHAT, context: "lora-x" },
    { why: "another prompt (in its hashed head)", sent: CHAT, parsed: CHAT.replace("sé", "sè"), context: "" },
    { why: "another length", sent: CHAT, parsed: CHAT.replace("question", "questions"), context: "" },
    { why: "another model", sent: CHAT, parsed: CHAT.replace('"m1"', '"m2"'), context: "" },
    {
      why: "a model whose tokenizer is not character",
      sent: CHAT.replace('"m1"', '"tk"'),
      parsed: CHAT.replace('"m1"', '"tk"'),
      context: "",
    },
  ])("$why: the ordinary path runs, counted as a mismatch", async ({ sent, parsed, context }) => {
    const outcomes: StreamedOutcome[] = [];
    const request = parse("chat", parsed);
    const p = await preparer(outcomes)(request, context, streamed("chat", sent));
    expect(outcomes).toEqual(["mismatch"]);
    const ordinary = await preparer([])(request, context);
    expect(p.tokens).toEqual(ordinary.tokens);
    expect(p.keys(16)).toEqual(ordinary.keys(16));
  });

  it("a planned block size the stream did not hash: the ordinary path, counted as block-sizes", async () => {
    const outcomes: StreamedOutcome[] = [];
    const prepare = preparer(outcomes, { keysOffLoop: { seed: 99n, engineBlockSizes: () => [32] } });
    const request = parse("chat", CHAT);
    const p = await prepare(request, "", streamed("chat", CHAT, [16]));
    expect(outcomes).toEqual(["block-sizes"]);
    expect(p.keys(32)).toEqual((await preparer([])(request, "")).keys(32));
    await prepare(request, "", streamed("chat", CHAT, [16, 32]));
    expect(outcomes).toEqual(["block-sizes", "used"]);
  });

  it("with AIBrix's scheme a streamed prompt is ignored (no stream is started for it)", async () => {
    const outcomes: StreamedOutcome[] = [];
    const prepare = preparer(outcomes, {
      approximate: { t: "aibrix", blockBytes: 16, hash: () => new BigUint64Array(0) },
    });
    const request = parse("chat", CHAT);
    const p = await prepare(request, "", streamed("chat", CHAT));
    expect(outcomes).toEqual([]);
    expect(p.tokens).toEqual((await prepare(request, "")).tokens);
  });
});
