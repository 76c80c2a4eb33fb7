import type { Usage, UsagePatch } from "../../src/response";
import { completeUsage, usageFromJson, usagePatchFromJson } from "../../src/response";

const u = (promptTokens: number, completionTokens: number, totalTokens: number): Usage => ({
  promptTokens,
  completionTokens,
  totalTokens,
});

describe("usageFromJson", () => {
  const cases: readonly { name: string; value: unknown; expected: Usage | undefined }[] = [
    {
      name: "OpenAI chat completion",
      value: {
        object: "chat.completion",
        usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 14 },
      },
      expected: u(12, 2, 14),
    },
    {
      name: "total taken as reported, not recomputed",
      value: { usage: { prompt_tokens: 12, completion_tokens: 2, total_tokens: 20 } },
      expected: u(12, 2, 20),
    },
    {
      name: "total missing: sum",
      value: { usage: { prompt_tokens: 5, completion_tokens: 7 } },
      expected: u(5, 7, 12),
    },
    {
      name: "embeddings: completion derived from total",
      value: { object: "list", usage: { prompt_tokens: 8, total_tokens: 8 } },
      expected: u(8, 0, 8),
    },
    {
      name: "prompt_tokens_details ignored",
      value: {
        usage: {
          prompt_tokens: 9,
          completion_tokens: 1,
          total_tokens: 10,
          prompt_tokens_details: { cached_tokens: 4 },
        },
      },
      expected: u(9, 1, 10),
    },
    {
      name: "Responses API body: input/output tokens",
      value: { object: "response", usage: { input_tokens: 30, output_tokens: 4, total_tokens: 34 } },
      expected: u(30, 4, 34),
    },
    {
      name: "Responses API response.completed event",
      value: {
        type: "response.completed",
        response: { id: "r", usage: { input_tokens: 3, output_tokens: 5, total_tokens: 8 } },
      },
      expected: u(3, 5, 8),
    },
    {
      name: "usage: null falls back to response.usage",
      value: { usage: null, response: { usage: { input_tokens: 1, output_tokens: 2 } } },
      expected: u(1, 2, 3),
    },
    {
      name: "Anthropic message_start (message.usage)",
      value: { type: "message_start", message: { id: "m", usage: { input_tokens: 25, output_tokens: 1 } } },
      expected: u(25, 1, 26),
    },
    {
      name: "Anthropic cache reads and writes are part of the prompt",
      value: {
        type: "message",
        usage: {
          input_tokens: 10,
          cache_creation_input_tokens: 100,
          cache_read_input_tokens: 1000,
          output_tokens: 3,
        },
      },
      expected: u(1110, 3, 1113),
    },
    {
      name: "prompt_tokens wins over input_tokens",
      value: { usage: { prompt_tokens: 7, input_tokens: 99, completion_tokens: 1, output_tokens: 99 } },
      expected: u(7, 1, 8),
    },
    {
      name: "zero counts are valid",
      value: { usage: { prompt_tokens: 0, completion_tokens: 0 } },
      expected: u(0, 0, 0),
    },
    {
      name: "Anthropic message_delta alone (no prompt)",
      value: { type: "message_delta", usage: { output_tokens: 15 } },
      expected: undefined,
    },
    { name: "no usage", value: { choices: [] }, expected: undefined },
    { name: "usage null", value: { usage: null }, expected: undefined },
    { name: "usage an array", value: { usage: [1, 2] }, expected: undefined },
    { name: "usage empty object", value: { usage: {} }, expected: undefined },
    {
      name: "error body",
      value: { error: { message: "boom", type: "BadRequestError", code: 400 } },
      expected: undefined,
    },
    {
      name: "negative count",
      value: { usage: { prompt_tokens: -1, completion_tokens: 2 } },
      expected: undefined,
    },
    {
      name: "fractional count",
      value: { usage: { prompt_tokens: 1.5, completion_tokens: 2 } },
      expected: undefined,
    },
    {
      name: "string count",
      value: { usage: { prompt_tokens: "3", completion_tokens: 2 } },
      expected: undefined,
    },
    {
      name: "infinite count",
      value: { usage: { prompt_tokens: Infinity, completion_tokens: 2 } },
      expected: undefined,
    },
    {
      name: "unsafe integer",
      value: { usage: { prompt_tokens: 2 ** 60, completion_tokens: 2 } },
      expected: undefined,
    },
    {
      name: "invalid total",
      value: { usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: -3 } },
      expected: undefined,
    },
    {
      name: "invalid cache count",
      value: { usage: { input_tokens: 1, cache_read_input_tokens: "x", output_tokens: 1 } },
      expected: undefined,
    },
    {
      name: "derived count negative",
      value: { usage: { prompt_tokens: 9, total_tokens: 8 } },
      expected: undefined,
    },
    { name: "only total", value: { usage: { total_tokens: 8 } }, expected: undefined },
    { name: "null", value: null, expected: undefined },
    { name: "array", value: [{ usage: { prompt_tokens: 1, completion_tokens: 1 } }], expected: undefined },
    { name: "string", value: "usage", expected: undefined },
    { name: "number", value: 42, expected: undefined },
  ];

  it.each(cases)("$name", ({ value, expected }) => {
    expect(usageFromJson(value)).toEqual(expected);
  });
});

describe("usagePatchFromJson", () => {
  it.each<[string, unknown, UsagePatch | undefined]>([
    ["message_delta", { type: "message_delta", usage: { output_tokens: 15 } }, { completionTokens: 15 }],
    [
      "full",
      { usage: { prompt_tokens: 1, completion_tokens: 2, total_tokens: 3 } },
      { promptTokens: 1, completionTokens: 2, totalTokens: 3 },
    ],
    [
      "null fields are absent",
      { usage: { prompt_tokens: null, completion_tokens: 2 } },
      { completionTokens: 2 },
    ],
    ["nothing", { usage: {} }, undefined],
  ])("%s", (_name, value, expected) => {
    expect(usagePatchFromJson(value)).toEqual(expected);
  });
});

describe("completeUsage", () => {
  const previous = u(25, 1, 26);
  it.each<[string, UsagePatch, Usage | undefined, Usage | undefined]>([
    [
      "prompt carried from previous (Anthropic message_delta)",
      { completionTokens: 15 },
      previous,
      u(25, 15, 40),
    ],
    [
      "prompt derived from a reported total beats previous",
      { completionTokens: 15, totalTokens: 41 },
      previous,
      u(26, 15, 41),
    ],
    ["no previous: incomplete", { completionTokens: 15 }, undefined, undefined],
    ["complete patch ignores previous", { promptTokens: 3, completionTokens: 4 }, previous, u(3, 4, 7)],
    [
      "prompt derived from total and completion",
      { completionTokens: 4, totalTokens: 10 },
      undefined,
      u(6, 4, 10),
    ],
    ["derived negative", { completionTokens: 11, totalTokens: 10 }, undefined, undefined],
  ])("%s", (_name, patch, prev, expected) => {
    expect(completeUsage(patch, prev)).toEqual(expected);
  });
});
