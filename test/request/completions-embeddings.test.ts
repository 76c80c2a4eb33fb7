import { Code } from "../../src/errors";
import type { Prompt } from "../../src/request";
import { parse, parseError } from "./parse-helpers";

const COMPLETIONS = "/v1/completions";
const EMBEDDINGS = "/v1/embeddings";

/** The OpenAI union both endpoints accept (`prompt` for completions, `input` for embeddings). */
const UNION_ACCEPTED: ReadonlyArray<[string, unknown, Prompt, number]> = [
  ["a string", "once upon a time", { t: "text", text: "once upon a time" }, 4],
  ["a string array, joined with a space", ["ab", "cd", "ef"], { t: "text", text: "ab cd ef" }, 2],
  ["a one-string array", ["solo"], { t: "text", text: "solo" }, 1],
  ["a token array", [1, 2, 3, 0], { t: "tokens", ids: [[1, 2, 3, 0]] }, 4],
  ["a nested token array", [[1, 2], [3], [4, 5, 6]], { t: "tokens", ids: [[1, 2], [3], [4, 5, 6]] }, 6],
  [
    "max safe integer token id",
    [Number.MAX_SAFE_INTEGER],
    { t: "tokens", ids: [[Number.MAX_SAFE_INTEGER]] },
    1,
  ],
];

/** Shapes both endpoints reject with a message specific to the field. */
function unionRejected(field: string, wrongType: string): ReadonlyArray<[string, unknown, string]> {
  return [
    ["missing", undefined, `'${field}' is a required property`],
    ["null", null, `'${field}' is a required property`],
    ["an empty string", "", `'${field}' must not be empty`],
    ["an empty array", [], `'${field}' must not be empty`],
    ["an empty string inside an array", ["a", ""], `'${field}' must not be empty`],
    ["an empty inner token array", [[1], []], `'${field}' must not be empty`],
    ["a number", 42, wrongType],
    ["a boolean", true, wrongType],
    ["an object", { text: "hi" }, wrongType],
    ["strings mixed with numbers", ["a", 1], wrongType],
    ["numbers mixed with strings", [1, "a"], wrongType],
    ["numbers mixed with arrays", [1, [2]], wrongType],
    ["nested arrays mixed with numbers", [[1], 2], wrongType],
    ["nested arrays of strings", [["a"]], wrongType],
    ["an array of booleans", [true], wrongType],
    ["an array of nulls", [null], wrongType],
    ["a negative token id", [1, -2], `'${field}' token ids must be non-negative integers`],
    ["a fractional token id", [1.5], `'${field}' token ids must be non-negative integers`],
    ["an unsafe token id", [2 ** 60], `'${field}' token ids must be non-negative integers`],
    ["a negative nested token id", [[1], [-1]], `'${field}' token ids must be non-negative integers`],
  ];
}

describe("/v1/completions", () => {
  it.each(UNION_ACCEPTED)("accepts %s", (_name, prompt, expected, tokens) => {
    const req = parse(COMPLETIONS, { model: "m", prompt, max_tokens: 16 });
    expect(req.endpoint).toBe("completions");
    expect(req.prompt).toEqual(expected);
    expect(req.promptTokens).toBe(tokens);
    expect(req.maxTokens).toBe(16);
  });

  it("keeps stream and include_usage", () => {
    const req = parse(COMPLETIONS, {
      model: "m",
      prompt: "x",
      stream: true,
      stream_options: { include_usage: true },
    });
    expect([req.stream, req.includeUsage]).toEqual([true, true]);
  });

  const wrongType = "'prompt' must be a string, an array of strings, or an array of token ids";
  it.each([
    ...unionRejected("prompt", wrongType),
    ["an array of objects", [{ text: "x" }], wrongType] as const,
  ])("rejects a prompt that is %s", (_name, prompt, message) => {
    expect(parseError(COMPLETIONS, { model: "m", prompt })).toEqual({
      code: Code.BadRequest,
      message,
      param: "prompt",
    });
  });
});

describe("/v1/embeddings", () => {
  it.each(UNION_ACCEPTED)("accepts %s", (_name, input, expected, tokens) => {
    const req = parse(EMBEDDINGS, { model: "m", input, encoding_format: "float" });
    expect(req.endpoint).toBe("embeddings");
    expect(req.prompt).toEqual(expected);
    expect(req.promptTokens).toBe(tokens);
  });

  it.each<[string, unknown[], string]>([
    [
      "typed text and image parts (text only)",
      [
        { type: "text", text: "a cat" },
        { type: "image_url", image_url: { url: "data:x" } },
        { type: "text", text: "on a mat" },
      ],
      "a cat on a mat",
    ],
    ["every allowed part type", [{ type: "video_url" }, { type: "image" }, { type: "video" }], ""],
    ["sglang flat parts", [{ text: "hello" }, { image: "data:x" }, { video: "v.mp4" }], "hello"],
  ])("accepts multimodal input: %s", (_name, input, text) => {
    expect(parse(EMBEDDINGS, { model: "m", input }).prompt).toEqual({ t: "text", text });
  });

  it.each<[unknown, boolean]>([
    [undefined, false],
    [false, false],
    [null, false],
  ])("accepts stream %j", (stream, expected) => {
    expect(parse(EMBEDDINGS, { model: "m", input: "x", stream }).stream).toBe(expected);
  });

  it("rejects stream: true", () => {
    expect(parseError(EMBEDDINGS, { model: "m", input: "x", stream: true })).toEqual({
      code: Code.BadRequest,
      message: "stream not supported for embeddings",
      param: "stream",
    });
  });

  it("rejects a non-boolean stream with the common message", () => {
    expect(parseError(EMBEDDINGS, { model: "m", input: "x", stream: "no" })).toEqual({
      code: Code.BadRequest,
      message: "'stream' must be a boolean",
      param: "stream",
    });
  });

  const wrongType =
    "'input' must be a string, an array of strings, an array of token ids, or an array of multimodal parts";
  it.each<readonly [string, unknown, string]>([
    ...unionRejected("input", wrongType),
    ["a part with an unknown type", [{ type: "audio", audio: "x" }], wrongType],
    ["a part with no type and no content", [{ foo: 1 }], wrongType],
    ["parts mixed with strings", [{ type: "text", text: "a" }, "b"], wrongType],
    ["a text part without text", [{ type: "text" }], "'input' text parts must have a string 'text'"],
    [
      "a text part with numeric text",
      [{ type: "text", text: 3 }],
      "'input' text parts must have a string 'text'",
    ],
  ])("rejects an input that is %s", (_name, input, message) => {
    expect(parseError(EMBEDDINGS, { model: "m", input })).toEqual({
      code: Code.BadRequest,
      message,
      param: "input",
    });
  });
});

describe("large token prompts", () => {
  it("keeps a 200k-token prompt without altering it", () => {
    const ids = Array.from({ length: 200_000 }, (_, i) => i % 50_000);
    const req = parse(COMPLETIONS, { model: "m", prompt: ids }, { maxBodyBytes: 8 << 20 });
    expect(req.prompt).toEqual({ t: "tokens", ids: [ids] });
    expect(req.promptTokens).toBe(200_000);
  });
});
