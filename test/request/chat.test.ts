import { Code } from "../../src/errors";
import { parse, parseError } from "./parse-helpers";

const CHAT = "/v1/chat/completions";
const MESSAGES = "/v1/messages";
const IMAGE = { type: "image_url", image_url: { url: "data:image/png;base64,AAAA" } };

describe.each([CHAT, MESSAGES])("%s: accepted message shapes", (path) => {
  it.each<[string, unknown[], string]>([
    ["one string message", [{ role: "user", content: "hello" }], "hello"],
    [
      "several messages joined with one space, roles ignored",
      [
        { role: "system", content: "be brief" },
        { role: "user", content: "hi" },
        { role: "assistant", content: "hello" },
        { role: "user", content: "bye" },
      ],
      "be brief hi hello bye",
    ],
    [
      "text content parts",
      [
        {
          role: "user",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
          ],
        },
      ],
      "a b",
    ],
    [
      "a non-text part as its JSON",
      [{ role: "user", content: [{ type: "text", text: "look" }, IMAGE] }],
      `look ${JSON.stringify(IMAGE)}`,
    ],
    [
      "string and part messages mixed",
      [
        { role: "user", content: "first" },
        { role: "user", content: [{ type: "text", text: "second" }] },
      ],
      "first second",
    ],
    [
      "null and absent content skipped",
      [
        { role: "user", content: "q" },
        { role: "assistant", content: null, tool_calls: [{ id: "1" }] },
        { role: "assistant" },
        { role: "tool", content: "r" },
      ],
      "q r",
    ],
    ["an empty part array adds nothing", [{ content: [] }, { content: "x" }], "x"],
    ["empty string content kept as a segment", [{ content: "" }, { content: "x" }], " x"],
    ["unicode kept as is", [{ content: "héllo 世界 😀" }], "héllo 世界 😀"],
  ])("%s", (_name, messages, text) => {
    const req = parse(path, { model: "m", messages });
    expect(req.prompt).toEqual({ t: "text", text });
  });
});

describe("/v1/messages: system", () => {
  it.each<[string, unknown, string]>([
    ["a string system first", "you are terse", "you are terse hi"],
    [
      "text blocks, each a segment",
      [
        { type: "text", text: "rule one" },
        { type: "text", text: "rule two", cache_control: { type: "ephemeral" } },
      ],
      "rule one rule two hi",
    ],
    ["null system ignored", null, "hi"],
    ["empty string system ignored", "", "hi"],
    ["empty block array ignored", [], "hi"],
  ])("%s", (_name, system, text) => {
    const req = parse(MESSAGES, {
      model: "m",
      system,
      max_tokens: 10,
      messages: [{ role: "user", content: "hi" }],
    });
    expect(req.prompt).toEqual({ t: "text", text });
    expect(req.endpoint).toBe("messages");
  });

  it("ignores system on /v1/chat/completions", () => {
    const req = parse(CHAT, { model: "m", system: "sys", messages: [{ role: "user", content: "hi" }] });
    expect(req.prompt).toEqual({ t: "text", text: "hi" });
  });

  it("takes Anthropic tool_use / tool_result blocks as JSON", () => {
    const toolUse = { type: "tool_use", id: "t1", name: "f", input: { a: 1 } };
    const req = parse(MESSAGES, {
      model: "m",
      messages: [
        { role: "user", content: "call f" },
        { role: "assistant", content: [toolUse] },
      ],
    });
    expect(req.prompt).toEqual({ t: "text", text: `call f ${JSON.stringify(toolUse)}` });
  });

  it.each<unknown>([
    42,
    true,
    { type: "text", text: "x" },
    ["plain"],
    [{ type: "image" }],
    [{ type: "text" }],
  ])("rejects system %j", (system) => {
    expect(parseError(MESSAGES, { model: "m", system, messages: [{ content: "hi" }] })).toEqual({
      code: Code.BadRequest,
      message: "'system' must be a string or an array of text blocks",
      param: "system",
    });
  });
});

describe.each([CHAT, MESSAGES])("%s: rejected messages", (path) => {
  it.each<[string, Record<string, unknown>, string]>([
    ["missing messages", {}, "no messages in the request body"],
    ["null messages", { messages: null }, "no messages in the request body"],
    ["empty messages", { messages: [] }, "no messages in the request body"],
    ["messages a string", { messages: "hello" }, "no messages in the request body"],
    ["messages an object", { messages: { content: "hi" } }, "no messages in the request body"],
    ["a string message", { messages: ["hi"] }, "'messages[0]' must be an object"],
    ["a null message", { messages: [{ content: "a" }, null] }, "'messages[1]' must be an object"],
    ["an array message", { messages: [[{ content: "a" }]] }, "'messages[0]' must be an object"],
    [
      "numeric content",
      { messages: [{ content: 1 }] },
      "'messages[0].content' must be a string or an array of content parts",
    ],
    [
      "boolean content",
      { messages: [{ content: "ok" }, { content: false }] },
      "'messages[1].content' must be a string or an array of content parts",
    ],
    [
      "object content",
      { messages: [{ content: { type: "text", text: "x" } }] },
      "'messages[0].content' must be a string or an array of content parts",
    ],
    [
      "a string inside a part array",
      { messages: [{ content: ["hi"] }] },
      "'messages[0].content[0]' must be a content part object",
    ],
    [
      "a null part",
      { messages: [{ content: [{ type: "text", text: "a" }, null] }] },
      "'messages[0].content[1]' must be a content part object",
    ],
    [
      "a text part without text",
      { messages: [{ content: [{ type: "text" }] }] },
      "'messages[0].content[0].text' must be a string",
    ],
    [
      "a text part with numeric text",
      { messages: [{ content: [{ type: "text", text: 5 }] }] },
      "'messages[0].content[0].text' must be a string",
    ],
  ])("%s", (_name, fields, message) => {
    expect(parseError(path, { model: "m", ...fields })).toEqual({
      code: Code.BadRequest,
      message,
      param: "messages",
    });
  });

  it("never quotes message text in an error", () => {
    const err = parseError(path, {
      model: "m",
      messages: [{ content: [{ type: "text", text: "SECRET" }, 3] }],
    });
    expect(err.message).not.toContain("SECRET");
    expect(err.param).toBe("messages");
  });
});

describe("content nesting", () => {
  it("rejects a part nested too deeply to serialise as a bad request", () => {
    const depth = 200_000;
    const body = `{"model":"m","messages":[{"content":[{"type":"image","x":${"[".repeat(depth)}${"]".repeat(depth)}}]}]}`;
    expect(parseError(CHAT, body)).toEqual({
      code: Code.BadRequest,
      message: "error processing request body",
      param: "messages",
    });
  });
});

describe("chat turns for chat templates", () => {
  it("keeps roles and per-message text (Anthropic system first)", () => {
    const req = parse(MESSAGES, {
      model: "m",
      system: "be brief",
      messages: [
        {
          role: "user",
          content: [
            { type: "text", text: "a" },
            { type: "text", text: "b" },
          ],
        },
        { role: "assistant", content: "ok" },
        { content: "no role" },
      ],
    });
    expect(req.chat).toEqual([
      { role: "system", content: "be brief" },
      { role: "user", content: "a b" },
      { role: "assistant", content: "ok" },
      { role: "user", content: "no role" },
    ]);
  });

  it("is absent for non-chat endpoints", () => {
    expect(parse("/v1/completions", { model: "m", prompt: "x" }).chat).toBeUndefined();
  });
});
