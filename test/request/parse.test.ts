import { Code } from "../../src/errors";
import type { Endpoint } from "../../src/request";
import { endpointForPath } from "../../src/request";
import { bytes, parse, parseError } from "./parse-helpers";

const CHAT = "/v1/chat/completions";
const chat = (extra: Record<string, unknown>): Record<string, unknown> => ({
  model: "m",
  messages: [{ role: "user", content: "hi" }],
  ...extra,
});

/** A minimal valid body for each endpoint. */
const MINIMAL: ReadonlyArray<[string, Endpoint, Record<string, unknown>]> = [
  ["/v1/chat/completions", "chat-completions", chat({})],
  ["/v1/completions", "completions", { model: "m", prompt: "hi" }],
  ["/v1/embeddings", "embeddings", { model: "m", input: "hi" }],
  ["/v1/responses", "responses", { model: "m", input: "hi" }],
  ["/v1/messages", "messages", chat({})],
  ["/v1/rerank", "rerank", { model: "m", query: "q", documents: ["d"] }],
  ["/v1/classify", "classify", { model: "m", input: "hi" }],
];

describe("endpointForPath", () => {
  it.each(MINIMAL.map(([path, endpoint]) => [path, endpoint]))("%s → %s", (path, endpoint) => {
    expect(endpointForPath(path)).toBe(endpoint);
  });

  it.each([
    ["/v1/chat/completions?api-version=2024", "chat-completions"],
    ["/v1/completions?", "completions"],
    ["/v1/embeddings#frag", "embeddings"],
    ["/v1/rerank?a=1#frag", "rerank"],
    ["/v1/classify#a?b", "classify"],
  ])("ignores the query string and fragment: %s → %s", (path, endpoint) => {
    expect(endpointForPath(path)).toBe(endpoint);
  });

  it.each([
    "/",
    "",
    "/v1/chat/completions/",
    "/V1/chat/completions",
    "/v1/chat",
    "/v1/models",
    "/v1/images/generations",
    "/v1/audio/transcriptions",
    "v1/completions",
    "/v2/completions",
    "?/v1/completions",
  ])("unknown path %j → undefined", (path) => {
    expect(endpointForPath(path)).toBeUndefined();
  });
});

describe("parseRequest: path dispatch", () => {
  it.each(MINIMAL)("%s parses as %s", (path, endpoint, body) => {
    const req = parse(path, body);
    expect(req.endpoint).toBe(endpoint);
    expect(req.path).toBe(path);
    expect(req.model).toBe("m");
  });

  it.each([
    ["/v1/chat/completions?stream=1", "/v1/chat/completions"],
    ["/v1/chat/completions#x", "/v1/chat/completions"],
    ["/v1/chat/completions?a=b#c", "/v1/chat/completions"],
  ])("reports %s without its query string as %s", (path, clean) => {
    expect(parse(path, chat({})).path).toBe(clean);
  });

  it.each(["/v1/models", "/v1/chat/completions/", "/healthz", "/v1/images/generations?x=1"])(
    "unknown path %s → UnknownPath, whatever the body",
    (path) => {
      for (const body of [chat({}), "", "not json"]) {
        expect(parseError(path, body)).toEqual({
          code: Code.UnknownPath,
          message: "unknown request path",
          param: undefined,
        });
      }
    },
  );
});

describe("parseRequest: body", () => {
  it("rejects an empty body", () => {
    expect(parseError(CHAT, new Uint8Array(0))).toEqual({
      code: Code.BadRequest,
      message: "request body is required",
      param: undefined,
    });
  });

  it("rejects a body over the limit with PayloadTooLarge", () => {
    const body = bytes(chat({}));
    const err = parseError(CHAT, body, { maxBodyBytes: body.byteLength - 1 });
    expect(err.code).toBe(Code.PayloadTooLarge);
    expect(err.message).toBe(
      `request body of ${body.byteLength} bytes exceeds the limit of ${body.byteLength - 1} bytes`,
    );
    expect(err.param).toBeUndefined();
  });

  it("checks the size before parsing (an oversized invalid body is still PayloadTooLarge)", () => {
    expect(parseError(CHAT, "{{{{", { maxBodyBytes: 2 }).code).toBe(Code.PayloadTooLarge);
  });

  it("accepts a body exactly at the limit and reports its size in bytes", () => {
    const body = bytes(chat({ messages: [{ role: "user", content: "héllo ✓" }] }));
    const req = parse(CHAT, body, { maxBodyBytes: body.byteLength });
    expect(req.bodyBytes).toBe(body.byteLength);
    expect(req.bodyBytes).toBeGreaterThan(JSON.stringify(chat({})).length);
  });

  it("parses a body that is a view into a larger buffer", () => {
    const inner = bytes(chat({}));
    const backing = new Uint8Array(inner.byteLength + 10);
    backing.fill(0x7b);
    backing.set(inner, 5);
    const req = parse(CHAT, backing.subarray(5, 5 + inner.byteLength));
    expect(req.bodyBytes).toBe(inner.byteLength);
    expect(req.prompt).toEqual({ t: "text", text: "hi" });
  });

  const SECRET = "hunter2-secret-prompt";
  it.each<[string, Uint8Array | string]>([
    ["malformed JSON", `{"model": "m", "messages": [${SECRET}`],
    ["trailing garbage", `{"model":"m","messages":[{"content":"${SECRET}"}]} x`],
    ["truncated JSON", `{"model":"m","messages":[{"content":"${SECRET}`],
    ["invalid UTF-8", Uint8Array.from([...bytes(`{"model":"m","x":"${SECRET}`), 0xff, 0xfe, 0x22, 0x7d])],
    ["overlong UTF-8 encoding", Uint8Array.from([...bytes('{"model":"'), 0xc0, 0xaf, ...bytes('"}')])],
    ["lone surrogate bytes", Uint8Array.from([...bytes('{"model":"'), 0xed, 0xa0, 0x80, ...bytes('"}')])],
    ["a UTF-8 byte-order mark", Uint8Array.from([0xef, 0xbb, 0xbf, ...bytes(chat({}))])],
    ["a JSON array", "[1,2,3]"],
    ["a JSON string", `"${SECRET}"`],
    ["a JSON number", "42"],
    ["JSON null", "null"],
    ["JSON true", "true"],
    ["whitespace only", "   "],
  ])("rejects %s with AIBrix's wording and no body text", (_name, body) => {
    const err = parseError(CHAT, body);
    expect(err).toEqual({
      code: Code.BadRequest,
      message: "error processing request body",
      param: undefined,
    });
    expect(err.message).not.toContain(SECRET);
  });

  it("accepts surrounding JSON whitespace", () => {
    expect(parse(CHAT, `\n\t ${JSON.stringify(chat({}))} \r\n`).model).toBe("m");
  });
});

describe("parseRequest: model", () => {
  it.each<[string, unknown, string]>([
    ["missing", undefined, "'model' is a required property"],
    ["null", null, "'model' is a required property"],
    ["empty", "", "'model' is a required property"],
    ["a number", 7, "'model' must be a string"],
    ["a boolean", true, "'model' must be a string"],
    ["an array", ["m"], "'model' must be a string"],
    ["an object", { name: "m" }, "'model' must be a string"],
  ])("rejects a model that is %s", (_name, model, message) => {
    for (const [path, , body] of MINIMAL) {
      expect(parseError(path, { ...body, model })).toEqual({
        code: Code.BadRequest,
        message,
        param: "model",
      });
    }
  });

  it.each(["llama-3-8b", "org/model:lora-1", " spaced ", "模型"])("keeps model %j as given", (model) => {
    expect(parse(CHAT, chat({ model })).model).toBe(model);
  });

  it("validates model before the endpoint's fields", () => {
    expect(parseError(CHAT, { messages: [] }).param).toBe("model");
  });
});

describe("parseRequest: stream and stream_options", () => {
  it.each<[unknown, boolean]>([
    [undefined, false],
    [null, false],
    [false, false],
    [true, true],
  ])("stream %j → %s", (stream, expected) => {
    expect(parse(CHAT, chat({ stream })).stream).toBe(expected);
  });

  it.each<unknown>(["true", 1, 0, [], {}])("rejects stream %j", (stream) => {
    expect(parseError(CHAT, chat({ stream }))).toEqual({
      code: Code.BadRequest,
      message: "'stream' must be a boolean",
      param: "stream",
    });
  });

  it.each<[unknown, boolean]>([
    [undefined, false],
    [null, false],
    [{}, false],
    [{ include_usage: null }, false],
    [{ include_usage: false }, false],
    [{ include_usage: true }, true],
    [{ include_usage: true, continuous_usage_stats: true }, true],
  ])("stream_options %j → includeUsage %s", (streamOptions, expected) => {
    expect(parse(CHAT, chat({ stream: true, stream_options: streamOptions })).includeUsage).toBe(expected);
  });

  it.each<[unknown, string, string]>([
    [true, "'stream_options' must be an object", "stream_options"],
    ["include_usage", "'stream_options' must be an object", "stream_options"],
    [[true], "'stream_options' must be an object", "stream_options"],
    [
      { include_usage: "yes" },
      "'stream_options.include_usage' must be a boolean",
      "stream_options.include_usage",
    ],
    [
      { include_usage: 1 },
      "'stream_options.include_usage' must be a boolean",
      "stream_options.include_usage",
    ],
  ])("rejects stream_options %j", (streamOptions, message, param) => {
    expect(parseError(CHAT, chat({ stream_options: streamOptions }))).toEqual({
      code: Code.BadRequest,
      message,
      param,
    });
  });
});

describe("parseRequest: user", () => {
  it.each<[unknown, string | undefined]>([
    [undefined, undefined],
    [null, undefined],
    ["", undefined],
    ["alice", "alice"],
  ])("user %j → %j", (user, expected) => {
    expect(parse(CHAT, chat({ user })).user).toBe(expected);
  });

  it.each<unknown>([42, true, ["alice"], { name: "alice" }])("rejects user %j", (user) => {
    expect(parseError(CHAT, chat({ user }))).toEqual({
      code: Code.BadRequest,
      message: "'user' must be a string",
      param: "user",
    });
  });
});

describe("parseRequest: max tokens", () => {
  it.each<[Record<string, unknown>, number | undefined]>([
    [{}, undefined],
    [{ max_tokens: 100 }, 100],
    [{ max_completion_tokens: 50 }, 50],
    [{ max_output_tokens: 70 }, 70],
    [{ max_tokens: 100, max_completion_tokens: 50 }, 50],
    [{ max_tokens: 100, max_output_tokens: 70 }, 100],
    [{ max_output_tokens: 70, max_completion_tokens: 50, max_tokens: 100 }, 50],
    [{ max_completion_tokens: null, max_tokens: 100 }, 100],
    [{ max_tokens: 0 }, undefined],
    [{ max_tokens: 1e3 }, 1000],
    [{ max_tokens: Number.MAX_SAFE_INTEGER }, Number.MAX_SAFE_INTEGER],
  ])("%j → maxTokens %j", (fields, expected) => {
    expect(parse(CHAT, chat(fields)).maxTokens).toBe(expected);
  });

  it.each(["max_completion_tokens", "max_tokens", "max_output_tokens"])(
    "rejects a wrong-typed or negative %s, even when an earlier field is set",
    (field) => {
      for (const value of [-1, 1.5, "100", true, [1], {}, 2 ** 60]) {
        expect(parseError(CHAT, chat({ max_completion_tokens: 5, [field]: value }))).toEqual({
          code: Code.BadRequest,
          message: `'${field}' must be a non-negative integer`,
          param: field,
        });
      }
    },
  );
});

describe("parseRequest: promptTokens", () => {
  it.each<[string, string, number]>([
    ["empty", "", 0],
    ["1 char", "a", 1],
    ["4 chars", "abcd", 1],
    ["5 chars", "abcde", 2],
    ["4000 chars", "x".repeat(4000), 1000],
    ["2 astral chars (4 UTF-16 units)", "😀😀", 1],
  ])("text of %s → %d (ceil(UTF-16 length / 4))", (_name, content, expected) => {
    expect(parse(CHAT, chat({ messages: [{ role: "user", content }] })).promptTokens).toBe(expected);
  });

  it("counts token ids exactly", () => {
    const req = parse("/v1/completions", { model: "m", prompt: [[1, 2, 3], [4], [5, 6]] });
    expect(req.promptTokens).toBe(6);
  });
});

describe("parseRequest: large bodies", () => {
  it("parses a multi-megabyte chat body into one routing text", () => {
    const content = "lorem ipsum ".repeat(300_000);
    const req = parse(CHAT, chat({ messages: [{ role: "user", content }] }), { maxBodyBytes: 8 << 20 });
    expect(req.prompt).toEqual({ t: "text", text: content });
    expect(req.promptTokens).toBe(Math.ceil(content.length / 4));
  });
});
