/**
 * The ext_proc benchmark's workloads are what their labels say: distinct bodies, true token counts under the named
 * tokenizer (counted the way kvroute tokenizes), 16 KiB chunks in STREAMED mode, and the goal preset runs exactly
 * the configurations its rows name.
 */
import { existsSync } from "node:fs";
import type { ProcessingRequest } from "../../src/extproc/messages";
import { loadExtProcDefinition } from "../../src/extproc/proto";
import {
  QWEN3_TOKENIZER_JSON,
  WORKLOADS,
  goalScenarios,
  parseOptions,
  tokenizerChoice,
} from "../../bench/extproc-options";
import type { WorkloadSpec } from "../../bench/extproc-options";
import { STREAM_CHUNK_BYTES, TENANTS, buildPoolWorkload } from "../../bench/extproc-pool";
import { promptTokenizer } from "../../bench/extproc-tokens";
import { qwen3MiniTokenizerJson } from "../tokenize/fixtures";

const method = loadExtProcDefinition().processService.Process;
const encode = method.requestSerialize as (m: ProcessingRequest) => Buffer;
const decode = method.requestDeserialize as (b: Buffer) => ProcessingRequest;
const spec = (name: string): WorkloadSpec => WORKLOADS.find((w) => w.name === name) as WorkloadSpec;

/**
 * The BPE case sizes bodies with Qwen3's pipeline, chat template and special tokens but only its first merges
 * (`qwen3MiniTokenizerJson`): what is proved here — bodies sized by their true token count under the scenario's
 * tokenizer, through its chat template, not by characters — does not depend on the vocabulary's size, and loading
 * the full 11 MB Qwen3 cost ~2 s of CPU. Qwen3's own counts and encoder are checked in test/tokenize/parity.test.ts;
 * that `hf:qwen3` names that file is checked below.
 */
const TOKENIZERS: readonly (readonly [string, () => string])[] = [
  ["character", () => "character"],
  ["hf:Qwen3 (first merges)", () => `hf:${qwen3MiniTokenizerJson()}`],
];

describe("extproc benchmark workloads", () => {
  it("--tokenizer hf:qwen3 is the full Qwen3 tokenizer.json, which is installed", () => {
    expect(tokenizerChoice("hf:qwen3")).toEqual({ label: "hf:Qwen3", spec: `hf:${QWEN3_TOKENIZER_JSON}` });
    expect(existsSync(QWEN3_TOKENIZER_JSON)).toBe(true);
  });

  it.each(TOKENIZERS)(
    "chat-1k is ~1000 %s tokens per body, bodies distinct",
    (name, value) => {
      const tokenizer = promptTokenizer(tokenizerChoice(value()));
      try {
        const w = buildPoolWorkload({
          spec: spec("chat-1k"),
          model: "m1",
          bodyMode: "BUFFERED",
          tokenizer,
          encode,
          maxBodies: 32,
        });
        expect(w.tokens.mean).toBeGreaterThan(950);
        expect(w.tokens.mean).toBeLessThan(1050);
        expect(w.tokens.min).toBeGreaterThan(900);
        expect(w.tokens.max).toBeLessThan(1100);
        expect(new Set(w.bodies.map((b) => b.toString("latin1"))).size).toBe(w.bodies.length);
        expect(w.bodies.length).toBeGreaterThanOrEqual(TENANTS);
        // Bodies of one tenant share the system prompt and differ after it.
        const system = (i: number): string =>
          (JSON.parse(w.bodies[i]?.toString("utf8") ?? "{}") as { messages: { content: string }[] })
            .messages[0]?.content ?? "";
        expect(system(0)).not.toBe("");
        expect(system(0)).toBe(system(TENANTS));
        expect(system(0)).not.toBe(system(1));
        // Consecutive conversations carry different bodies.
        expect(w.requestBodyMessages(1)[0]?.equals(w.requestBodyMessages(2)[0] as Buffer)).toBe(false);
        // Sized in BPE tokens, not characters: the same ~1000 tokens take several times as many bytes.
        if (name !== "character") expect(w.bytes.mean).toBeGreaterThan(2 * w.tokens.mean);
      } finally {
        tokenizer.free();
      }
    },
    60_000,
  );

  it("STREAMED sends a 220 KiB body as 16 KiB chunks, end_of_stream on the last only", () => {
    const tokenizer = promptTokenizer(tokenizerChoice("character"));
    const w = buildPoolWorkload({
      spec: spec("chat-220kb"),
      model: "m1",
      bodyMode: "STREAMED",
      tokenizer,
      encode,
      maxBodies: 8,
    });
    expect(w.bytes.min).toBeGreaterThan(219 * 1024);
    expect(w.bytes.max).toBeLessThan(222 * 1024);
    const chunks = w.requestBodyMessages(5).map(decode);
    const body = Buffer.concat(chunks.map((c) => Buffer.from(c.request_body?.body ?? [])));
    expect(chunks.length).toBe(Math.ceil(body.length / STREAM_CHUNK_BYTES));
    expect(chunks.map((c) => c.request_body?.end_of_stream ?? false)).toEqual(
      chunks.map((_, i) => i === chunks.length - 1),
    );
    expect(body.equals(w.bodies[5 % w.bodies.length] as Buffer)).toBe(true);
    expect(decode(w.requestHeaders(5)).protocol_config?.request_body_mode).toBe("STREAMED");
  }, 120_000);

  it("--goals runs the goal configurations, prefix-cache over 16 pods, and refuses scenario flags", () => {
    const o = parseOptions(["--goals", "--seconds", "1"]);
    expect(o.scenarios).toEqual(goalScenarios());
    for (const s of o.scenarios) expect([s.routing, s.pods, s.withWarn]).toEqual(["prefix-cache", 16, false]);
    expect(
      o.scenarios.map(
        (s) => `${s.tokenizer.label} ${s.bodyMode} ${s.workloads.map((w) => w.name).join("+")}`,
      ),
    ).toEqual([
      "character BUFFERED chat-1k",
      "hf:Qwen3 BUFFERED chat-1k+chat-8k",
      "character STREAMED chat-220kb",
      "character BUFFERED chat-220kb",
    ]);
    expect(() => parseOptions(["--goals", "--pods", "3"])).toThrow(/fixed configurations/);
    expect(parseOptions([]).scenarios[0]).toMatchObject({
      routing: "least-request",
      pods: 3,
      withWarn: true,
    });
  });
});
