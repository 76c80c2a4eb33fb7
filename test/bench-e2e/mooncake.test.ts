/**
 * Mooncake trace reader and replay: shared hash ids become byte-identical text blocks.
 */
import path from "node:path";
import { tiktokenEncoder } from "../../src/tokenize/encoder";
import type { SyncEncoder } from "../../src/tokenize/encoder";
import { mooncakeWorkload, parseMooncakeTrace, readMooncakeTrace } from "../../bench/e2e/mooncake";

const SAMPLE = path.join(__dirname, "../../bench/e2e/traces/mooncake-sample.jsonl");

let tiktoken: SyncEncoder;
beforeAll(() => {
  tiktoken = tiktokenEncoder();
});
afterAll(() => tiktoken.free?.());

const promptOf = (r: { messages?: readonly { content: string }[] } | undefined): string =>
  r?.messages?.[0]?.content ?? "";

describe("parseMooncakeTrace", () => {
  it("reads the committed sample", () => {
    const records = readMooncakeTrace(SAMPLE);
    expect(records).toHaveLength(24);
    expect(records[0]).toEqual({
      timestamp: 215,
      inputLength: 2610,
      outputLength: 34,
      hashIds: [0, 1, 2, 3, 100, 101],
    });
    for (const r of records) expect(r.hashIds.length).toBe(Math.ceil(r.inputLength / 512));
  });

  it("skips blank lines, keeps session ids, and names the bad line", () => {
    const text = '\n{"timestamp":1,"input_length":3,"output_length":2,"hash_ids":[7],"session_id":9}\n\n';
    expect(parseMooncakeTrace(text)).toEqual([
      { timestamp: 1, inputLength: 3, outputLength: 2, hashIds: [7], sessionId: "9" },
    ]);
    expect(() => parseMooncakeTrace('{"timestamp":1}\nnope')).toThrow(/line 1: input_length/);
    expect(() => parseMooncakeTrace("{}\n")).toThrow(/line 1/);
    expect(() => parseMooncakeTrace('{"input_length":1,"output_length":1,"hash_ids":[1.5]}')).toThrow(
      /hash_ids/,
    );
    expect(() => parseMooncakeTrace("[1,")).toThrow(/line 1: not JSON/);
  });
});

describe("mooncakeWorkload", () => {
  const records = parseMooncakeTrace(
    [
      { timestamp: 0, input_length: 1024 + 100, output_length: 10, hash_ids: [1, 2, 3] },
      { timestamp: 500, input_length: 1024 + 512, output_length: 20, hash_ids: [1, 2, 4] },
      { timestamp: 900, input_length: 300, output_length: 5, hash_ids: [1] },
      { timestamp: 1000, input_length: 600, output_length: 5, hash_ids: [9] },
    ]
      .map((o) => JSON.stringify(o))
      .join("\n"),
  );

  it("gives each prompt exactly input_length tokens; shared ids are identical text, others differ", () => {
    const w = mooncakeWorkload(records, { seed: 3 });
    const [a, b, c, d] = w.requests.map(promptOf);
    for (const [i, r] of w.requests.entries()) {
      expect(tiktoken.encode(promptOf(r))).toHaveLength(records[i]?.inputLength ?? -1);
      expect(r.maxTokens).toBe(records[i]?.outputLength);
    }
    const tokensOf = (s: string | undefined): Uint32Array => tiktoken.encode(s ?? "");
    // Blocks 1 and 2 (1024 tokens) are shared by the first two prompts; their third blocks differ.
    expect(tokensOf(a).slice(0, 1024)).toEqual(tokensOf(b).slice(0, 1024));
    expect(tokensOf(a).slice(1024, 1124)).not.toEqual(tokensOf(b).slice(1024, 1124));
    // A partial block 1 is a prefix of the full one.
    expect(a?.startsWith(c ?? "x")).toBe(true);
    expect(tokensOf(d).slice(0, 16)).not.toEqual(tokensOf(a).slice(0, 16));
    expect(w.requests.map((r) => r.expectedPrefixGroup)).toEqual([
      "mc-root-1",
      "mc-root-1",
      "mc-root-1",
      "mc-root-9",
    ]);
    expect(w.requests.map((r) => r.sharedPrefixTokens)).toEqual([0, 1024, 300, 0]);
    expect(mooncakeWorkload(records, { seed: 3 })).toEqual(w);
  });

  it("speedup divides timestamps; scale shrinks blocks with lengths; maxRequests truncates; filler beyond ids", () => {
    const w = mooncakeWorkload(records, { speedup: 2, scale: 0.25, maxRequests: 2, tokenizer: "character" });
    expect(w.requests.map((r) => r.atMs)).toEqual([0, 250]);
    expect(w.requests.map((r) => Buffer.byteLength(promptOf(r)))).toEqual([281, 384]);
    const [a, b] = w.requests.map(promptOf);
    expect(a?.slice(0, 256)).toBe(b?.slice(0, 256));
    expect(a?.slice(256, 281)).not.toBe(b?.slice(256, 281));
    const long = mooncakeWorkload(
      parseMooncakeTrace('{"input_length":1500,"output_length":1,"hash_ids":[5]}'),
    );
    expect(tiktoken.encode(promptOf(long.requests[0]))).toHaveLength(1500);
  });

  it("replays the committed sample", () => {
    const w = mooncakeWorkload(readMooncakeTrace(SAMPLE), { scale: 0.1, tokenizer: "character" });
    expect(w.requests).toHaveLength(24);
    expect(new Set(w.requests.map((r) => r.expectedPrefixGroup))).toEqual(
      new Set(["mc-root-0", "mc-root-10", "mc-root-20"]),
    );
  });
});
