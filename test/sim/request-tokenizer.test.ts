/**
 * The simulator reads requests and tokenizes with its own code (src/sim/server/request.ts, tokenizer.ts), never
 * kvroute's. Prefix routing only works when both sides turn a request into the same token ids, so this file checks
 * the two independent implementations against each other: a bug in either shows up as a disagreement.
 */
import { parseRequest } from "../../src/request/parse";
import { createTokenizerRegistry } from "../../src/tokenize/registry";
import { SimRequestError, parseGenerate } from "../../src/sim/server/request";
import type { SimPrompt } from "../../src/sim/server/request";
import { loadSimTokenizer, promptTokens } from "../../src/sim/server/tokenizer";
import { qwen3MiniTokenizerJson } from "../tokenize/fixtures";

const CHAT = "/v1/chat/completions";
const COMPLETIONS = "/v1/completions";
const raw = (body: unknown): Buffer => Buffer.from(JSON.stringify(body));

/** kvroute's prompt in the simulator's shape (the first list of a token-id batch). */
function kvroutePrompt(path: string, body: unknown): SimPrompt {
  const p = parseRequest(path, raw(body), { maxBodyBytes: 1 << 20 }).prompt;
  return p.t === "text" ? { t: "text", text: p.text } : { t: "tokens", ids: [...(p.ids[0] ?? [])] };
}

describe("simulator request parser agrees with kvroute's", () => {
  const chats: unknown[] = [
    { model: "m", messages: [{ role: "user", content: "hi" }] },
    {
      model: "m",
      messages: [
        { role: "system", content: "be brief" },
        { role: "assistant", content: null },
        {
          role: "user",
          content: [
            { type: "text", text: "look at" },
            { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } },
            { type: "input_text", text: "and say é" },
          ],
        },
      ],
      stream: true,
      stream_options: { include_usage: true },
      max_completion_tokens: 9,
      max_tokens: 4,
    },
  ];
  const completions: unknown[] = [
    { model: "m", prompt: "once upon", max_tokens: 0 },
    { model: "m", prompt: ["a", "b c"], stream: false },
    { model: "m", prompt: [5, 6, 7], max_tokens: 3 },
    { model: "m", prompt: [[1, 2], [3]] },
  ];

  it.each(chats.map((b, i) => [i, b]))("chat body #%i: same prompt, turns, flags", (_, body) => {
    const ours = parseGenerate(raw(body), "chat");
    const theirs = parseRequest(CHAT, raw(body), { maxBodyBytes: 1 << 20 });
    expect(ours.prompt).toEqual(kvroutePrompt(CHAT, body));
    expect(ours.chat).toEqual(theirs.chat);
    expect([ours.model, ours.stream, ours.includeUsage, ours.maxTokens]).toEqual([
      theirs.model,
      theirs.stream,
      theirs.includeUsage,
      theirs.maxTokens,
    ]);
  });

  it.each(completions.map((b, i) => [i, b]))("completions body #%i: same prompt and flags", (_, body) => {
    const ours = parseGenerate(raw(body), "completions");
    const theirs = parseRequest(COMPLETIONS, raw(body), { maxBodyBytes: 1 << 20 });
    expect(ours.prompt).toEqual(kvroutePrompt(COMPLETIONS, body));
    expect([ours.model, ours.stream, ours.maxTokens]).toEqual([
      theirs.model,
      theirs.stream,
      theirs.maxTokens,
    ]);
    expect(ours.chat).toBeUndefined();
  });

  it.each([
    [CHAT, "{not json"],
    [CHAT, "[1]"],
    [CHAT, JSON.stringify({ messages: [{ content: "x" }] })],
    [CHAT, JSON.stringify({ model: "m", messages: [] })],
    [CHAT, JSON.stringify({ model: "m", messages: ["x"] })],
    [CHAT, JSON.stringify({ model: "m", messages: [{ content: [{ type: "text", text: 1 }] }] })],
    [CHAT, JSON.stringify({ model: "m", messages: [{ content: "x" }], stream: "yes" })],
    [CHAT, JSON.stringify({ model: "m", messages: [{ content: "x" }], max_tokens: -1 })],
    [COMPLETIONS, JSON.stringify({ model: "m", prompt: "" })],
    [COMPLETIONS, JSON.stringify({ model: "m", prompt: [1, "a"] })],
    [COMPLETIONS, JSON.stringify({ model: "m", prompt: [1.5] })],
  ])("%s rejects %s, as kvroute does", (path, text) => {
    const body = Buffer.from(text);
    expect(() => parseGenerate(body, path === CHAT ? "chat" : "completions")).toThrow(SimRequestError);
    expect(() => parseRequest(path, body, { maxBodyBytes: 1 << 20 })).toThrow();
  });
});

describe("simulator tokenizers give kvroute's ids", () => {
  const texts = [
    "hello there",
    "héllo wörld — 你好 🙂",
    "<|im_start|>user\nspecial-looking text",
    "  spaces\ttabs\n",
  ];
  const turns = [
    { role: "system", content: "be brief" },
    { role: "user", content: "why is the sky blue?" },
  ];

  it.each([
    ["character", "character"],
    ["tiktoken", "tiktoken"],
    // Qwen3's pipeline, special tokens and chat template with its first merges only: two implementations agree or
    // not whatever the vocabulary's size, and the full one costs ~1 s of CPU per load.
    ["hf:qwen3 (first merges)", `hf:${qwen3MiniTokenizerJson()}`],
  ])("%s: texts and chats", async (_, spec) => {
    const sim = loadSimTokenizer(spec);
    const registry = createTokenizerRegistry({ defaultSpec: spec, workers: 0 });
    try {
      const kv = registry.forModel("m");
      for (const text of texts)
        expect(Array.from(sim.encode(text))).toEqual(Array.from(await kv.encode(text)));
      // A chat: through the template when the tokenizer has one (Qwen3's), else the contents joined by a space.
      expect(sim.renderChat === undefined).toBe(kv.encodeChat === undefined);
      const kvChat =
        kv.encodeChat === undefined
          ? await kv.encode(turns.map((t) => t.content).join(" "))
          : await kv.encodeChat(turns);
      const simChat = promptTokens(sim, { t: "text", text: turns.map((t) => t.content).join(" ") }, turns);
      expect(Array.from(simChat)).toEqual(Array.from(kvChat));
    } finally {
      sim.free();
      await registry.close();
    }
  });

  it("character ids are the UTF-8 bytes; token-id prompts pass through; unknown specs are refused", () => {
    const sim = loadSimTokenizer("character");
    expect(Array.from(sim.encode("aé"))).toEqual([0x61, 0xc3, 0xa9]);
    expect(Array.from(promptTokens(sim, { t: "tokens", ids: [7, 8] }))).toEqual([7, 8]);
    expect(() => loadSimTokenizer("remote")).toThrow(/unknown tokenizer/);
  });
});
