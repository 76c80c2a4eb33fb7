import { isDeepStrictEqual } from "node:util";
import type { HarvestResult, Usage, UsageHarvesterOptions } from "../../src/response";
import {
  completeUsage,
  createSseLineBuffer,
  createUsageHarvester,
  usagePatchFromJson,
} from "../../src/response";
import { seededRandom } from "../../src/seeded-random";

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);
const u = (promptTokens: number, completionTokens: number, totalTokens: number): Usage => ({
  promptTokens,
  completionTokens,
  totalTokens,
});

const SSE: UsageHarvesterOptions = {
  stream: true,
  contentType: "text/event-stream",
  maxBufferedBytes: 64 * 1024,
};
const JSON_BODY: UsageHarvesterOptions = {
  stream: false,
  contentType: "application/json",
  maxBufferedBytes: 64 * 1024,
};

function harvest(options: UsageHarvesterOptions, chunks: readonly Uint8Array[]): HarvestResult {
  const h = createUsageHarvester(options);
  for (const c of chunks) h.push(c);
  return h.end();
}

function twoWaySplits(data: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 0; i <= data.byteLength; i += 1) out.push([data.subarray(0, i), data.subarray(i)]);
  return out;
}

function oneByteChunks(data: Uint8Array): Uint8Array[] {
  return Array.from(data, (_, i) => data.subarray(i, i + 1));
}

/** Harvests `text` whole, at every 2-way split and in 1-byte chunks; asserts all agree; returns the result. */
function harvestAllSplits(options: UsageHarvesterOptions, text: string): HarvestResult {
  const data = bytes(text);
  const whole = harvest(options, [data]);
  // Node's comparison first, jest's matcher (same verdict, with its diff) only on a difference: expect() builds an
  // Error per call, and a call per split point was most of this file's CPU.
  for (const split of twoWaySplits(data)) {
    const result = harvest(options, split);
    if (!isDeepStrictEqual(result, whole)) expect(result).toEqual(whole);
  }
  expect(harvest(options, oneByteChunks(data))).toEqual(whole);
  return whole;
}

const chunk = (delta: object, extra = ""): string =>
  `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[{"index":0,"delta":${JSON.stringify(delta)},"logprobs":null,"finish_reason":null}]${extra}}\n\n`;
const usageChunk = (p: number, c: number, t: number): string =>
  `data: {"id":"chatcmpl-1","object":"chat.completion.chunk","created":1700000000,"model":"m","choices":[],"usage":{"prompt_tokens":${p},"total_tokens":${t},"completion_tokens":${c}}}\n\n`;
const DONE = "data: [DONE]\n\n";

/** A vLLM chat stream with include_usage (final `choices: []` usage chunk). */
const VLLM_STREAM =
  chunk({ role: "assistant", content: "" }) +
  chunk({ content: "Hello" }) +
  chunk({ content: "!" }) +
  usageChunk(12, 2, 14) +
  DONE;

const RESPONSES_STREAM = [
  "event: response.created",
  'data: {"type":"response.created","response":{"id":"resp_1","status":"in_progress","usage":null}}',
  "",
  "event: response.output_text.delta",
  'data: {"type":"response.output_text.delta","delta":"Hi"}',
  "",
  "event: response.completed",
  'data: {"type":"response.completed","response":{"id":"resp_1","status":"completed","usage":{"input_tokens":30,"input_tokens_details":{"cached_tokens":0},"output_tokens":4,"output_tokens_details":{"reasoning_tokens":0},"total_tokens":34}}}',
  "",
  "",
].join("\n");

const ANTHROPIC_STREAM = [
  "event: message_start",
  'data: {"type":"message_start","message":{"id":"msg_1","type":"message","role":"assistant","content":[],"model":"m","usage":{"input_tokens":25,"output_tokens":1}}}',
  "",
  "event: content_block_delta",
  'data: {"type":"content_block_delta","index":0,"delta":{"type":"text_delta","text":"Hi"}}',
  "",
  "event: message_delta",
  'data: {"type":"message_delta","delta":{"stop_reason":"end_turn","stop_sequence":null},"usage":{"output_tokens":15}}',
  "",
  "event: message_stop",
  'data: {"type":"message_stop"}',
  "",
  "",
].join("\n");

describe("createUsageHarvester: SSE", () => {
  interface Case {
    readonly name: string;
    readonly text: string;
    readonly usage: Usage | undefined;
    readonly events: number;
    readonly malformedLines?: number;
    readonly droppedLines?: number;
    readonly options?: Partial<UsageHarvesterOptions>;
  }
  const cases: readonly Case[] = [
    { name: "vLLM chat stream with include_usage", text: VLLM_STREAM, usage: u(12, 2, 14), events: 4 },
    { name: "CRLF line endings", text: VLLM_STREAM.replace(/\n/g, "\r\n"), usage: u(12, 2, 14), events: 4 },
    {
      name: "no space after data:",
      text: VLLM_STREAM.replace(/data: /g, "data:"),
      usage: u(12, 2, 14),
      events: 4,
    },
    {
      name: "no trailing newline after the usage chunk",
      text: usageChunk(3, 4, 7).trimEnd(),
      usage: u(3, 4, 7),
      events: 1,
    },
    {
      name: "multi-byte UTF-8 content (é, €, emoji)",
      text: chunk({ content: "café €5 😀" }) + chunk({ content: "👍🏽" }) + usageChunk(5, 3, 8) + DONE,
      usage: u(5, 3, 8),
      events: 3,
    },
    {
      name: "older vLLM: usage null on every chunk",
      text:
        chunk({ content: "a" }, ',"usage":null') +
        chunk({ content: "b" }, ',"usage":null') +
        usageChunk(4, 2, 6) +
        DONE,
      usage: u(4, 2, 6),
      events: 3,
    },
    {
      name: "continuous_usage_stats: last usage wins",
      text:
        chunk({ content: "a" }, ',"usage":{"prompt_tokens":4,"completion_tokens":1,"total_tokens":5}') +
        chunk({ content: "b" }, ',"usage":{"prompt_tokens":4,"completion_tokens":2,"total_tokens":6}') +
        DONE,
      usage: u(4, 2, 6),
      events: 2,
    },
    {
      name: "malformed usage line mid-stream is counted, later usage found",
      text: chunk({ content: "a" }) + 'data: {"usage":{"prompt_tokens":1,\n\n' + usageChunk(12, 2, 14) + DONE,
      usage: u(12, 2, 14),
      events: 3,
      malformedLines: 1,
    },
    {
      name: "malformed usage line after usage keeps the earlier usage",
      text: usageChunk(12, 2, 14) + 'data: {"usage":{ nope }\n\n' + DONE,
      usage: u(12, 2, 14),
      events: 2,
      malformedLines: 1,
    },
    {
      name: "over-long line dropped, following lines parsed",
      text: chunk({ content: "x".repeat(600) }) + usageChunk(7, 600, 607) + DONE,
      usage: u(7, 600, 607),
      events: 1,
      droppedLines: 1,
      options: { maxLineBytes: 300 },
    },
    {
      name: "over-long usage line dropped: no usage",
      text:
        chunk({ content: "a" }) + usageChunk(7, 1, 8).replace("}}", `,"pad":"${"p".repeat(400)}"}}`) + DONE,
      usage: undefined,
      events: 1,
      droppedLines: 1,
      options: { maxLineBytes: 300 },
    },
    { name: "Responses API response.completed", text: RESPONSES_STREAM, usage: u(30, 4, 34), events: 3 },
    {
      name: "Anthropic message_start + message_delta",
      text: ANTHROPIC_STREAM,
      usage: u(25, 15, 40),
      events: 4,
    },
    {
      name: "stream without usage: events counted",
      text: chunk({ role: "assistant" }) + chunk({ content: "Hi" }) + DONE,
      usage: undefined,
      events: 2,
    },
    {
      name: "error mid-stream",
      text:
        chunk({ content: "a" }) +
        'data: {"error":{"message":"boom","type":"InternalServerError","code":500}}\n\n' +
        DONE,
      usage: undefined,
      events: 2,
    },
    {
      name: "comments, id, retry and data-less lines ignored",
      text: ": keep-alive\nid: 1\nretry: 10\ndata\n\n" + usageChunk(1, 1, 2),
      usage: u(1, 1, 2),
      events: 1,
    },
    { name: "only [DONE]", text: DONE, usage: undefined, events: 0 },
    { name: "empty body", text: "", usage: undefined, events: 0 },
    {
      name: "usage chunk with multi-byte characters around the usage key",
      text:
        chunk({ content: "naïve 😀" }, ',"usage":null') +
        usageChunk(9, 1, 10).replace('"model":"m"', '"model":"mödel-€-😀"') +
        DONE,
      usage: u(9, 1, 10),
      events: 2,
    },
    {
      name: "usage null in every non-final chunk, split anywhere, CRLF",
      text: (
        chunk({ content: "x" }, ',"usage":null') +
        chunk({ content: "y" }, ', "usage" : null') +
        usageChunk(6, 2, 8) +
        DONE
      ).replace(/\n/g, "\r\n"),
      usage: u(6, 2, 8),
      events: 3,
    },
    {
      name: "byte-order mark before a data line: the line decoder drops it, the line counts",
      text: "\uFEFF" + usageChunk(2, 3, 5) + DONE,
      usage: u(2, 3, 5),
      events: 1,
    },
    {
      name: "byte-order mark inside the data: not JSON, a malformed usage line",
      text: "data: \uFEFF" + usageChunk(2, 3, 5).slice("data: ".length) + DONE,
      usage: undefined,
      events: 1,
      malformedLines: 1,
    },
    {
      name: "[DONE] padded with Unicode spaces is not an event",
      text: "data: \u00a0[DONE]\u2028\n\n" + usageChunk(1, 1, 2),
      usage: u(1, 1, 2),
      events: 1,
    },
    {
      name: "invalid UTF-8 in a long non-usage line is an event, no error",
      text: chunk({ content: "\udc00 lone surrogate" }) + usageChunk(3, 3, 6),
      usage: u(3, 3, 6),
      events: 2,
    },
    {
      name: "content mentioning usage is not mistaken for usage",
      text: chunk({ content: '"usage": {"prompt_tokens": 99}' }) + DONE,
      usage: undefined,
      events: 1,
    },
  ];

  it.each(cases)("$name (whole, every 2-way split, 1-byte chunks)", (c) => {
    const result = harvestAllSplits({ ...SSE, ...c.options }, c.text);
    expect(result).toEqual({
      ...(c.usage !== undefined && { usage: c.usage }),
      events: c.events,
      firstDataSeen: c.events > 0,
      malformedLines: c.malformedLines ?? 0,
      droppedLines: c.droppedLines ?? 0,
      truncated: false,
      malformed: false,
      bytes: bytes(c.text).byteLength,
    });
  });

  /**
   * What reading every line as text gives (the harvester's rules, applied to each decoded line): the harvester
   * reads most lines as bytes and must agree with this exactly.
   */
  function readAsText(
    text: Uint8Array,
    maxLineBytes: number,
  ): Pick<HarvestResult, "usage" | "events"> & {
    malformedLines: number;
  } {
    const buffer = createSseLineBuffer(maxLineBytes);
    let usage: Usage | undefined;
    let events = 0;
    let malformedLines = 0;
    for (const line of [...buffer.push(text), ...buffer.flush()]) {
      if (!line.startsWith("data:")) continue;
      const data = line.slice(line.charCodeAt(5) === 0x20 ? 6 : 5);
      if (data.trim() === "[DONE]" && (data === "[DONE]" || data.length < 16)) continue;
      events += 1;
      if (!/"usage"\s*:\s*\{/.test(data)) continue;
      let parsed: unknown;
      try {
        parsed = JSON.parse(data);
      } catch {
        malformedLines += 1;
        continue;
      }
      const patch = usagePatchFromJson(parsed);
      const next = patch && completeUsage(patch, usage);
      if (next) usage = next;
    }
    return { ...(usage !== undefined && { usage }), events, malformedLines };
  }

  it("reading lines as bytes agrees with reading them as text, on random streams", () => {
    const random = seededRandom(12);
    const pieces = [
      chunk({ content: "a" }),
      chunk({ content: "é😀€" }, ',"usage":null'),
      usageChunk(5, 2, 7),
      'data: {"usage":{"prompt_tokens":1,\n',
      "data: [DONE]\n",
      "data:  [DONE] \n",
      "data: \u3000[DONE]\n",
      "\uFEFFdata: [DONE]\n",
      "\uFEFF" + usageChunk(8, 1, 9),
      "data: \uFEFF" + usageChunk(8, 1, 9).slice(6),
      'data: {"usage":{"prompt_tokens":3,"completion_tokens":4}}\n',
      'data:{"type":"message_delta","usage":{"output_tokens":6}}\n',
      "event: ping\n",
      ": comment\n",
      "\n",
      "\r\n",
    ];
    const encoded = pieces.map(bytes);
    const invalid = Uint8Array.from([0x64, 0x61, 0x74, 0x61, 0x3a, 0x20, 0xff, 0xc3, 0x0a]);
    for (let round = 0; round < 300; round++) {
      const parts: Uint8Array[] = [];
      for (let i = 0; i < 1 + Math.floor(random() * 12); i++)
        parts.push(random() < 0.05 ? invalid : encoded[Math.floor(random() * encoded.length)]!);
      const text = Buffer.concat(parts);
      const expected = readAsText(text, 1024);
      const cut = Math.floor(random() * (text.length + 1));
      const result = harvest({ ...SSE, maxLineBytes: 1024 }, [text.subarray(0, cut), text.subarray(cut)]);
      expect({ usage: result.usage, events: result.events, malformedLines: result.malformedLines }).toEqual({
        usage: expected.usage,
        events: expected.events,
        malformedLines: expected.malformedLines,
      });
    }
  });

  it("exposes usage and firstDataSeen as chunks arrive", () => {
    const h = createUsageHarvester(SSE);
    expect(h.mode).toBe("sse");
    h.push(bytes(': ping\n\ndata: {"choices"'));
    expect(h.firstDataSeen).toBe(false); // the data line is not complete yet
    h.push(bytes(":[]}\n\n"));
    expect(h.firstDataSeen).toBe(true);
    expect(h.usage).toBeUndefined();
    h.push(bytes(usageChunk(12, 2, 14)));
    expect(h.usage).toEqual(u(12, 2, 14));
    expect(h.current).toMatchObject({ usage: u(12, 2, 14), events: 2 });
  });

  it("end() is idempotent and later pushes are ignored", () => {
    const h = createUsageHarvester(SSE);
    h.push(bytes(usageChunk(1, 2, 3)));
    const first = h.end();
    h.push(bytes(usageChunk(9, 9, 18)));
    expect(h.end()).toBe(first);
    expect(h.usage).toEqual(u(1, 2, 3));
    expect(h.current).toBe(first);
  });
});

describe("createUsageHarvester: mode", () => {
  it.each<[string, UsageHarvesterOptions, "sse" | "json"]>([
    ["stream request, no content type", { stream: true, maxBufferedBytes: 10 }, "sse"],
    [
      "stream request, event-stream",
      { stream: true, contentType: "text/event-stream", maxBufferedBytes: 10 },
      "sse",
    ],
    [
      "non-stream request, event-stream with params",
      { stream: false, contentType: "Text/Event-Stream; charset=utf-8", maxBufferedBytes: 10 },
      "sse",
    ],
    [
      "stream request answered with a JSON error",
      { stream: true, contentType: "application/json", maxBufferedBytes: 10 },
      "json",
    ],
    ["non-stream request", { stream: false, maxBufferedBytes: 10 }, "json"],
    [
      "non-stream request, problem+json",
      { stream: false, contentType: "application/problem+json", maxBufferedBytes: 10 },
      "json",
    ],
    [
      "non-stream request, text/plain",
      { stream: false, contentType: "text/plain", maxBufferedBytes: 10 },
      "json",
    ],
  ])("%s", (_name, options, mode) => {
    expect(createUsageHarvester(options).mode).toBe(mode);
  });

  it.each([0, -5, 2.5])("rejects maxBufferedBytes %p", (max) => {
    expect(() => createUsageHarvester({ stream: false, maxBufferedBytes: max })).toThrow(RangeError);
  });
});

describe("createUsageHarvester: JSON body", () => {
  const completion = JSON.stringify({
    id: "chatcmpl-1",
    object: "chat.completion",
    model: "m",
    choices: [{ index: 0, message: { role: "assistant", content: "Héllo 😀" }, finish_reason: "stop" }],
    usage: { prompt_tokens: 12, completion_tokens: 3, total_tokens: 15 },
  });

  const cases: readonly {
    name: string;
    text: string;
    max?: number;
    usage: Usage | undefined;
    truncated?: boolean;
    malformed?: boolean;
  }[] = [
    { name: "chat completion with usage", text: completion, usage: u(12, 3, 15) },
    {
      name: "pretty-printed with trailing newline",
      text: JSON.stringify(JSON.parse(completion), null, 2) + "\n",
      usage: u(12, 3, 15),
    },
    {
      name: "embeddings",
      text: '{"object":"list","data":[],"usage":{"prompt_tokens":8,"total_tokens":8}}',
      usage: u(8, 0, 8),
    },
    {
      name: "error body: no usage, not malformed",
      text: '{"error":{"message":"bad","type":"BadRequestError","code":400}}',
      usage: undefined,
    },
    {
      name: "non-JSON: malformed",
      text: "upstream connect error or disconnect/reset before headers",
      usage: undefined,
      malformed: true,
    },
    { name: "truncated JSON: malformed", text: completion.slice(0, -1), usage: undefined, malformed: true },
    { name: "empty body", text: "", usage: undefined },
    { name: "whitespace-only body", text: " \n", usage: undefined },
    {
      name: "exactly maxBufferedBytes is parsed",
      text: completion,
      max: bytes(completion).byteLength,
      usage: u(12, 3, 15),
    },
    {
      name: "over maxBufferedBytes: truncated",
      text: completion,
      max: bytes(completion).byteLength - 1,
      usage: undefined,
      truncated: true,
    },
  ];

  it.each(cases)("$name (whole, every 2-way split, 1-byte chunks)", (c) => {
    const options = { ...JSON_BODY, ...(c.max !== undefined && { maxBufferedBytes: c.max }) };
    expect(harvestAllSplits(options, c.text)).toEqual({
      ...(c.usage !== undefined && { usage: c.usage }),
      events: 0,
      firstDataSeen: false,
      malformedLines: 0,
      droppedLines: 0,
      truncated: c.truncated ?? false,
      malformed: c.malformed ?? false,
      bytes: bytes(c.text).byteLength,
    });
  });

  it("usage is known only at end()", () => {
    const h = createUsageHarvester(JSON_BODY);
    expect(h.mode).toBe("json");
    h.push(bytes(completion));
    expect(h.usage).toBeUndefined();
    expect(h.end().usage).toEqual(u(12, 3, 15));
    expect(h.usage).toEqual(u(12, 3, 15));
  });

  it("copies chunks, so the caller may reuse its buffers", () => {
    const h = createUsageHarvester(JSON_BODY);
    const data = bytes(completion);
    h.push(data);
    data.fill(0x20);
    expect(h.end().usage).toEqual(u(12, 3, 15));
  });

  it("an SSE body sent as JSON is malformed, never an error", () => {
    expect(harvest(JSON_BODY, [bytes(VLLM_STREAM)])).toMatchObject({ malformed: true, truncated: false });
  });
});
