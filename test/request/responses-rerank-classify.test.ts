import { Code } from "../../src/errors";
import { parse, parseError } from "./parse-helpers";

const RESPONSES = "/v1/responses";
const RERANK = "/v1/rerank";
const CLASSIFY = "/v1/classify";

describe("/v1/responses", () => {
  // loopback-check: not-dialled (a URL inside a request body; kvroute never fetches it)
  const image = { type: "input_image", image_url: "https://example.com/a.png" };
  it.each<[string, Record<string, unknown>, string]>([
    ["a string input", { input: "tell me a joke" }, "tell me a joke"],
    ["an empty string input (accepted, as AIBrix)", { input: "" }, ""],
    ["instructions first", { instructions: "be nice", input: "hi" }, "be nice hi"],
    ["null instructions ignored", { instructions: null, input: "hi" }, "hi"],
    ["empty instructions ignored", { instructions: "", input: "hi" }, "hi"],
    ["string items", { input: ["a", "b"] }, "a b"],
    [
      "message items with string content",
      {
        input: [
          { role: "user", content: "q1" },
          { role: "assistant", content: "a1" },
        ],
      },
      "q1 a1",
    ],
    [
      "input_text / output_text parts and other parts as JSON",
      {
        input: [
          { role: "user", content: [{ type: "input_text", text: "see" }, image] },
          { role: "assistant", content: [{ type: "output_text", text: "ok" }] },
        ],
      },
      `see ${JSON.stringify(image)} ok`,
    ],
    [
      "items without content add nothing",
      {
        instructions: "sys",
        input: [
          { role: "user", content: "call" },
          { type: "function_call", call_id: "c", name: "f", arguments: "{}" },
          { type: "function_call_output", call_id: "c", output: "42" },
          "done",
        ],
      },
      "sys call done",
    ],
  ])("accepts %s", (_name, fields, text) => {
    const req = parse(RESPONSES, { model: "m", ...fields, max_output_tokens: 64 });
    expect(req.endpoint).toBe("responses");
    expect(req.prompt).toEqual({ t: "text", text });
    expect(req.maxTokens).toBe(64);
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ["missing input", {}, "'input' is a required property", "input"],
    ["null input", { input: null }, "'input' is a required property", "input"],
    ["numeric input", { input: 3 }, "'input' must be a string or an array of input items", "input"],
    [
      "object input",
      { input: { content: "x" } },
      "'input' must be a string or an array of input items",
      "input",
    ],
    ["a numeric item", { input: ["a", 1] }, "'input' must be a string or an array of input items", "input"],
    ["a null item", { input: [null] }, "'input' must be a string or an array of input items", "input"],
    ["an empty array", { input: [] }, "'input' array cannot be empty", "input"],
    [
      "item content of the wrong type",
      { input: [{ role: "user", content: 5 }] },
      "'input[0].content' must be a string or an array of content parts",
      "input",
    ],
    [
      "a text part without text",
      { input: [{ content: [{ type: "input_text" }] }] },
      "'input[0].content[0].text' must be a string",
      "input",
    ],
    [
      "numeric instructions",
      { instructions: 1, input: "x" },
      "'instructions' must be a string",
      "instructions",
    ],
  ])("rejects %s", (_name, fields, message, param) => {
    expect(parseError(RESPONSES, { model: "m", ...fields })).toEqual({
      code: Code.BadRequest,
      message,
      param,
    });
  });
});

describe("/v1/rerank", () => {
  it.each<[string, unknown, string]>([
    ["string documents", ["doc one", "doc two"], "what? doc one doc two"],
    ["object documents", [{ text: "d1" }, { text: "d2", title: "t" }], "what? d1 d2"],
    ["mixed documents", ["d1", { text: "d2" }], "what? d1 d2"],
  ])("accepts %s", (_name, documents, text) => {
    const req = parse(RERANK, { model: "m", query: "what?", documents, top_n: 1 });
    expect(req.endpoint).toBe("rerank");
    expect(req.prompt).toEqual({ t: "text", text });
  });

  it.each<[string, Record<string, unknown>, string, string]>([
    ["missing query", { documents: ["d"] }, "'query' is a required property", "query"],
    ["null query", { query: null, documents: ["d"] }, "'query' is a required property", "query"],
    ["numeric query", { query: 1, documents: ["d"] }, "'query' must be a string", "query"],
    ["missing documents", { query: "q" }, "'documents' is a required property", "documents"],
    ["null documents", { query: "q", documents: null }, "'documents' is a required property", "documents"],
    ["string documents", { query: "q", documents: "d" }, "'documents' must be an array", "documents"],
    ["empty documents", { query: "q", documents: [] }, "'documents' array cannot be empty", "documents"],
    [
      "a numeric document",
      { query: "q", documents: ["d", 2] },
      "'documents[1]' must be a string or an object with a string 'text'",
      "documents",
    ],
    [
      "an object document without text",
      { query: "q", documents: [{ content: "d" }] },
      "'documents[0]' must be a string or an object with a string 'text'",
      "documents",
    ],
  ])("rejects %s", (_name, fields, message, param) => {
    expect(parseError(RERANK, { model: "m", ...fields })).toEqual({ code: Code.BadRequest, message, param });
  });
});

describe("/v1/classify", () => {
  it.each<[string, unknown, string]>([
    ["a string", "is this spam", "is this spam"],
    ["a string array, joined with a space", ["one", "two"], "one two"],
  ])("accepts %s", (_name, input, text) => {
    const req = parse(CLASSIFY, { model: "m", input });
    expect(req.endpoint).toBe("classify");
    expect(req.prompt).toEqual({ t: "text", text });
  });

  it.each<[string, unknown, string]>([
    ["missing", undefined, "'input' is a required property"],
    ["null", null, "'input' is a required property"],
    ["an empty string", "", "'input' must not be empty"],
    ["an empty string in the array", ["a", ""], "'input' must not be empty"],
    ["an empty array", [], "'input' array cannot be empty"],
    ["a number", 1, "'input' must be a string or an array of strings"],
    ["an object", { text: "x" }, "'input' must be a string or an array of strings"],
    ["a token array", [1, 2], "'input' must be a string or an array of strings"],
    ["strings mixed with numbers", ["a", 2], "'input' must be a string or an array of strings"],
  ])("rejects an input that is %s", (_name, input, message) => {
    expect(parseError(CLASSIFY, { model: "m", input })).toEqual({
      code: Code.BadRequest,
      message,
      param: "input",
    });
  });
});
