/**
 * Streamed prompt hashing: for many random chat and completions bodies, written with every JSON escape form and
 * split at random byte offsets (inside escapes and multi-byte characters included), the streamed tokens and keys
 * equal exactly what the ordinary path gives (`parseRequest`, the `character` encoder or the given ids, then
 * `chainKeys`); and every shape the scanner does not follow makes it abandon.
 */
import { isDeepStrictEqual } from "node:util";
import { createBlockHasher } from "../../src/prefix/block-hasher";
import type { BlockHasher } from "../../src/prefix/block-key";
import { chainKeys } from "../../src/prefix/prompt-keys";
import { createPromptStream } from "../../src/prefix/streamed-prompt";
import type { PromptStreamOptions, StreamedPrompt } from "../../src/prefix/streamed-prompt";
import type { PromptShape } from "../../src/prefix/json-prompt-scan";
import { parseRequest } from "../../src/request/parse";
import { seededRandom } from "../../src/seeded-random";
import { characterEncoder } from "../../src/tokenize/encoder";

const SIZES = [16, 4, 7];
let hasher: BlockHasher;
beforeAll(async () => {
  hasher = await createBlockHasher(12345n);
});

type Rand = () => number;
const int = (r: Rand, n: number): number => Math.floor(r() * n);
const pick = <T>(r: Rand, xs: readonly T[]): T => xs[int(r, xs.length)] as T;

/** Code units a random string is made of: ASCII, controls, quotes, BMP, astral, lone surrogates. */
function randomString(r: Rand, maxLen: number): string {
  const len = int(r, maxLen + 1);
  let s = "";
  while (s.length < len) {
    const k = int(r, 10);
    if (k < 4) s += String.fromCharCode(0x20 + int(r, 95));
    else if (k === 4)
      s += pick(r, ['"', "\\", "/", "\n", "\t", "\b", "\f", "\r", "\u0000", "\u001f", "\u007f"]);
    else if (k === 5) s += pick(r, ["é", "ß", "中", "文", "\u0800", "\uffff", "\ufeff", "\u07ff"]);
    else if (k === 6) s += pick(r, ["😀", "𝄞", "\u{10ffff}", "\u{10000}"]);
    else if (k === 7)
      s += pick(r, ["\ud800", "\udbff", "\udc00", "\udfff", "\ud83d"]); // lone halves
    else s += pick(r, ["a", " ", "hello world ", "0123456789"]);
  }
  return s;
}

const hex4 = (r: Rand, u: number): string => {
  const h = u.toString(16).padStart(4, "0");
  return r() < 0.5 ? h : h.toUpperCase();
};

/** JSON string literal of `s`, each code unit written raw or escaped at random (lone surrogates always escaped). */
function jsonString(r: Rand, s: string): string {
  let out = '"';
  for (let i = 0; i < s.length; i++) {
    const u = s.charCodeAt(i);
    const next = s.charCodeAt(i + 1);
    const pair = u >= 0xd800 && u <= 0xdbff && next >= 0xdc00 && next <= 0xdfff;
    const lone = !pair && u >= 0xd800 && u <= 0xdfff;
    const short: Record<string, string> = {
      '"': '\\"',
      "\\": "\\\\",
      "/": "\\/",
      "\b": "\\b",
      "\f": "\\f",
      "\n": "\\n",
      "\r": "\\r",
      "\t": "\\t",
    };
    const ch = s[i] as string;
    const mustEscape = u < 0x20 || ch === '"' || ch === "\\" || lone;
    if (pair) {
      if (r() < 0.5) out += `\\u${hex4(r, u)}\\u${hex4(r, next)}`;
      else out += s.slice(i, i + 2);
      i++;
    } else if (mustEscape || r() < 0.2) {
      out += short[ch] !== undefined && r() < 0.6 ? short[ch] : `\\u${hex4(r, u)}`;
    } else {
      out += ch;
    }
  }
  return out + '"';
}

const ws = (r: Rand): string => (r() < 0.7 ? "" : pick(r, [" ", "\n", "\t", "\r\n  ", "   "]));

/** A random JSON value for keys the scanner skips: nested, with strings, numbers and literals. */
function junk(r: Rand, depth = 0): string {
  const k = int(r, depth > 2 ? 4 : 6);
  if (k === 0) return jsonString(r, randomString(r, 12));
  if (k === 1) return pick(r, ["0", "-1", "3.25", "1e9", "-0.5E-3", "42"]);
  if (k === 2) return pick(r, ["true", "false", "null"]);
  if (k === 3) return jsonString(r, pick(r, ["model", "messages", "prompt", "content"]));
  if (k === 4)
    return `[${ws(r)}${Array.from({ length: int(r, 4) }, () => junk(r, depth + 1)).join(`,${ws(r)}`)}]`;
  const keys = Array.from({ length: int(r, 4) }, () =>
    pick(r, ["model", "prompt", "messages", "content", "x"]),
  );
  return `{${[...new Set(keys)].map((key) => `${jsonString(r, key)}${ws(r)}:${ws(r)}${junk(r, depth + 1)}`).join(",")}}`;
}

/** An object from `[key, raw JSON value]` pairs, in the given order, with random whitespace. */
const object = (r: Rand, fields: readonly (readonly [string, string])[]): string =>
  `{${ws(r)}${fields.map(([k, v]) => `${jsonString(r, k)}${ws(r)}:${ws(r)}${v}`).join(`${ws(r)},${ws(r)}`)}${ws(r)}}`;

function shuffled<T>(r: Rand, xs: readonly T[]): T[] {
  const out = [...xs];
  for (let i = out.length - 1; i > 0; i--) {
    const j = int(r, i + 1);
    [out[i], out[j]] = [out[j] as T, out[i] as T];
  }
  return out;
}

const extras = (r: Rand): [string, string][] =>
  Array.from({ length: int(r, 3) }, (_, i) => [pick(r, ["temperature", "stream", "user", "x"]) + i, junk(r)]);

function chatBody(r: Rand, maxLen: number): string {
  const messages = Array.from({ length: 1 + int(r, 5) }, () => {
    const fields: [string, string][] = [["role", jsonString(r, pick(r, ["user", "system", "assistant"]))]];
    const c = int(r, 10);
    if (c < 8) fields.push(["content", jsonString(r, randomString(r, maxLen))]);
    else if (c === 8) fields.push(["content", "null"]);
    if (r() < 0.3) fields.push(["name", junk(r)]);
    return object(r, shuffled(r, fields));
  });
  const fields: [string, string][] = [
    ["model", jsonString(r, pick(r, ["m1", "lora-a", "模型"]))],
    ["messages", `[${ws(r)}${messages.join(`${ws(r)},${ws(r)}`)}${ws(r)}]`],
    ...extras(r),
  ];
  return ws(r) + object(r, shuffled(r, fields)) + ws(r);
}

function completionsBody(r: Rand, maxLen: number): string {
  const k = int(r, 3);
  let prompt: string;
  if (k === 0) prompt = jsonString(r, randomString(r, maxLen) + "x");
  else if (k === 1)
    prompt = `[${Array.from({ length: 1 + int(r, 4) }, () => jsonString(r, "y" + randomString(r, maxLen))).join(`,${ws(r)}`)}]`;
  else
    prompt = `[${ws(r)}${Array.from({ length: 1 + int(r, maxLen) }, () => String(int(r, 2) ? int(r, 200_000) : int(r, 2 ** 33))).join(`${ws(r)},${ws(r)}`)}${ws(r)}]`;
  const fields: [string, string][] = [
    ["model", jsonString(r, pick(r, ["m1", "lora-a"]))],
    ["prompt", prompt],
    ...extras(r),
  ];
  return ws(r) + object(r, shuffled(r, fields)) + ws(r);
}

const PATH: Record<PromptShape, string> = { chat: "/v1/chat/completions", completions: "/v1/completions" };

function options(maxBlocks: number | undefined, abandoned?: () => void): PromptStreamOptions {
  return {
    hasher,
    blockSizes: SIZES,
    ...(maxBlocks === undefined ? {} : { maxBlocks }),
    contextFor: (model) => (model === "lora-a" ? "lora-a" : ""),
    characterModel: (model) => model !== "hf-model",
    ...(abandoned ? { onAbandoned: abandoned } : {}),
  };
}

/** Feed `body` cut at `cuts` (sorted byte offsets). */
function stream(
  shape: PromptShape,
  body: Buffer,
  cuts: readonly number[],
  maxBlocks?: number,
  abandoned?: () => void,
): StreamedPrompt | undefined {
  const s = createPromptStream(shape, options(maxBlocks, abandoned));
  let at = 0;
  for (const cut of [...cuts, body.length]) {
    s.push(body.subarray(at, cut));
    at = cut;
  }
  return s.end();
}

const randomCuts = (r: Rand, n: number): number[] =>
  [...new Set(Array.from({ length: int(r, 12) }, () => int(r, n + 1)))].sort((a, b) => a - b);

/** What the ordinary path tokenizes and hashes for this body. */
function expected(shape: PromptShape, body: Buffer, maxBlocks: number | undefined) {
  const request = parseRequest(PATH[shape], body, { maxBodyBytes: 1 << 30 });
  const tokens =
    request.prompt.t === "text"
      ? characterEncoder().encode(request.prompt.text)
      : Uint32Array.from(request.prompt.ids[0] ?? []);
  const context = request.model === "lora-a" ? "lora-a" : "";
  const keys = new Map(SIZES.map((b) => [b, chainKeys(hasher, tokens, b, context, maxBlocks)]));
  return { request, tokens, context, keys };
}

function expectSame(
  shape: PromptShape,
  body: Buffer,
  got: StreamedPrompt | undefined,
  maxBlocks?: number,
): void {
  const want = expected(shape, body, maxBlocks);
  expect(got).toBeDefined();
  if (!got) return;
  expect(got.model).toBe(want.request.model);
  expect(got.context).toBe(want.context);
  expect(got.kind).toBe(want.request.prompt.t === "text" ? "text" : "ids");
  // jest's matchers only on a difference (for their diff): thousands of bodies go through here, and toEqual costs
  // ~50x node's own comparison.
  const gotTokens = Buffer.from(got.tokens.buffer, got.tokens.byteOffset, got.tokens.byteLength);
  const wantTokens = Buffer.from(want.tokens.buffer, want.tokens.byteOffset, want.tokens.byteLength);
  if (!gotTokens.equals(wantTokens)) expect(gotTokens).toEqual(wantTokens);
  for (const b of SIZES) {
    const [gotKeys, wantKeys] = [got.keys.get(b), want.keys.get(b)];
    if (!isDeepStrictEqual(gotKeys, wantKeys)) expect(gotKeys).toEqual(wantKeys);
  }
}

describe("streamed prompt keys equal the ordinary path's", () => {
  it.each(["chat", "completions"] as const)("%s: random bodies split at random offsets", (shape) => {
    const r = seededRandom(shape === "chat" ? 7 : 11);
    for (let n = 0; n < 600; n++) {
      const maxLen = pick(r, [3, 20, 80, 400]);
      const body = Buffer.from(shape === "chat" ? chatBody(r, maxLen) : completionsBody(r, maxLen));
      const maxBlocks = pick(r, [undefined, 1, 3, 50]);
      const got = stream(shape, body, randomCuts(r, body.length), maxBlocks);
      expectSame(shape, body, got, maxBlocks);
    }
  });

  it("a body fed one byte at a time (every escape and UTF-8 sequence split everywhere)", () => {
    const r = seededRandom(3);
    for (let n = 0; n < 60; n++) {
      const shape = pick(r, ["chat", "completions"] as const);
      const body = Buffer.from(shape === "chat" ? chatBody(r, 60) : completionsBody(r, 60));
      const cuts = Array.from({ length: body.length }, (_, i) => i);
      expectSame(shape, body, stream(shape, body, cuts));
    }
  });

  it("long prompts (many blocks, chunks of every size) and the model after the prompt", () => {
    const r = seededRandom(5);
    const text = randomString(r, 50_000);
    const body = Buffer.from(
      `{"messages":[{"role":"user","content":${jsonString(r, text)}}],"model":"lora-a"}`,
    );
    for (const size of [1, 100, 4096, 65_536]) {
      const cuts = Array.from({ length: Math.floor(body.length / size) }, (_, i) => (i + 1) * size);
      expectSame("chat", body, stream("chat", body, cuts));
    }
  });

  it("escaped surrogates: pairs combine, lone halves and split pairs become U+FFFD", () => {
    const cases = [
      '"\\uD83D\\uDE00"',
      '"\\ud83d\\ude00x"',
      '"\\uD83D"',
      '"\\uDE00\\uD83D"',
      '"\\uD83D\\uD83D\\uDE00"',
      '"\\uD83Dx\\uDE00"',
      '"\\uD83D\\n"',
      '"\\uD83D\\u0041"',
      '"a\\uD83D😀"',
    ];
    for (const s of cases) {
      const body = Buffer.from(`{"model":"m1","messages":[{"content":${s}},{"content":"\\uDE00"}]}`);
      for (let cut = 0; cut <= body.length; cut++) expectSame("chat", body, stream("chat", body, [cut]));
    }
  });

  it("empty and null contents: an empty string still adds its separating space, null adds nothing", () => {
    const body = Buffer.from(
      '{"model":"m1","messages":[{"content":"a"},{"content":""},{"role":"x"},{"content":null},{"content":"b"}]}',
    );
    const got = stream("chat", body, [10, 40]);
    expect(Buffer.from(got?.bytes ?? []).toString()).toBe("a  b");
    expectSame("chat", body, got);
  });
});

describe("shapes the scanner does not follow: it abandons", () => {
  const cases: readonly (readonly [PromptShape, string])[] = [
    ["chat", '{"model":"m1","messages":[{"content":[{"type":"text","text":"hi"}]}]}'],
    ["chat", '{"model":"m1","messages":[{"content":"a","content":"b"}]}'],
    ["chat", '{"model":"m1","messages":[{"content":"a"}],"messages":[{"content":"b"}]}'],
    ["chat", '{"model":"m1","model":"m2","messages":[{"content":"a"}]}'],
    ["chat", '{"model":"m1","\\u006dessages":[{"content":"a"}],"messages":[]}'],
    ["chat", '{"model":"m1","messages":["a"]}'],
    ["chat", '{"model":"m1","messages":{"content":"a"}}'],
    ["chat", '{"model":"m1","messages":[{"content":true}]}'],
    ["chat", '{"model":"hf-model","messages":[{"content":"a"}]}'],
    ["chat", '{"messages":[{"content":"a"}],"model":"hf-model"}'],
    ["chat", '{"model":null,"messages":[{"content":"a"}]}'],
    ["chat", '{"messages":[{"content":"a"}]}'],
    ["chat", '{"model":"m1","messages":[{"content":"a"}]'],
    ["chat", '{"model":"m1","messages":[{"content":"a"}]} x'],
    ["chat", '["model","m1"]'],
    ["chat", '\ufeff{"model":"m1","messages":[{"content":"a"}]}'],
    ["chat", '{"model":"m1","messages":[{"content":"\\x"}]}'],
    ["chat", '{"model":"m1","messages":[{"content":"\\u12G4"}]}'],
    ["chat", `{"model":"m1","x":${"[".repeat(300)}${"]".repeat(300)},"messages":[{"content":"a"}]}`],
    ["completions", '{"model":"m1","prompt":[[1,2,3]]}'],
    ["completions", '{"model":"m1","prompt":[1.0,2]}'],
    ["completions", '{"model":"m1","prompt":[1e3]}'],
    ["completions", '{"model":"m1","prompt":[-1]}'],
    ["completions", '{"model":"m1","prompt":[1,"a"]}'],
    ["completions", '{"model":"m1","prompt":["a",1]}'],
    ["completions", '{"model":"m1","prompt":[1234567890123456]}'],
    ["completions", '{"model":"m1","prompt":null}'],
    ["completions", '{"model":"m1","prompt":{"text":"a"}}'],
    ["completions", '{"model":"m1","prompt":"a","prompt":"b"}'],
    ["completions", '{"model":"hf-model","prompt":"abc"}'],
  ];

  it.each(cases)("%s %s", (shape, text) => {
    const body = Buffer.from(text);
    for (const cuts of [
      [],
      [Math.floor(body.length / 2)],
      Array.from({ length: body.length }, (_, i) => i),
    ]) {
      let count = 0;
      expect(stream(shape, body, cuts, undefined, () => count++)).toBeUndefined();
      expect(count).toBe(1);
    }
  });

  it("raw control characters in strings are not looked for: the parser refuses such a body, so it is never used", () => {
    const body = Buffer.from('{"model":"m1","messages":[{"content":"a\u0001"}]}');
    expect(stream("chat", body, [])).toBeDefined();
    expect(() => parseRequest(PATH.chat, body, { maxBodyBytes: 1 << 20 })).toThrow(
      "error processing request body",
    );
  });

  it("a token-id prompt needs no character tokenizer: an hf model's ids are followed", () => {
    const body = Buffer.from('{"model":"hf-model","prompt":[5,6,7,8]}');
    expect(Array.from(stream("completions", body, [3])?.tokens ?? [])).toEqual([5, 6, 7, 8]);
  });

  it("keys stop at maxBlocks while the prompt is still read to its end", () => {
    const body = Buffer.from(JSON.stringify({ model: "m1", prompt: "x".repeat(1000) }));
    const got = stream("completions", body, [100, 500], 3);
    expect(got?.tokens.length).toBe(1000);
    expect(got?.keys.get(16)?.length).toBe(3);
    expectSame("completions", body, got, 3);
  });
});
