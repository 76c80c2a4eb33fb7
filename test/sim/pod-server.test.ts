import { engineMetricsFromText, parsePrometheusText } from "../../src/cluster/metrics";
import type { Exposition } from "../../src/cluster/metrics";
import { labelValue } from "../../src/cluster/metrics";
import { chatTurns } from "../../src/request/chat";
import { MODEL, post, sseData, startPod, until } from "./helpers";
import type { TestPod } from "./helpers";

let t: TestPod;
beforeAll(async () => {
  t = await startPod({ loras: ["sql-lora"] });
});
afterAll(async () => {
  await t.close();
});

const url = (path: string): string => `${t.pod.url}${path}`;
const SYSTEM = "You are a careful assistant. ".repeat(8);

async function metrics(): Promise<Exposition> {
  const res = await fetch(url("/metrics"));
  expect(res.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
  return parsePrometheusText(await res.text());
}
const value = (e: Exposition, name: string): number => e.samples.get(name)?.[0]?.value ?? NaN;

describe("OpenAI API", () => {
  it("chat completion: synthetic text and usage", async () => {
    const r = await post(url("/v1/chat/completions"), {
      model: MODEL,
      messages: [{ role: "user", content: "hello there" }],
      max_tokens: 5,
    });
    expect(r.status).toBe(200);
    expect(r.json).toMatchObject({
      object: "chat.completion",
      model: MODEL,
      choices: [{ index: 0, message: { role: "assistant" }, finish_reason: "length" }],
      // character tokenizer: "hello there" is 11 UTF-8 bytes.
      usage: { prompt_tokens: 11, completion_tokens: 5, total_tokens: 16 },
    });
  });

  it("streaming with include_usage: content chunks, finish_reason, usage chunk, [DONE]", async () => {
    const r = await post(url("/v1/completions"), {
      model: MODEL,
      prompt: SYSTEM,
      max_tokens: 4,
      stream: true,
      stream_options: { include_usage: true },
    });
    expect(r.status).toBe(200);
    const events = sseData(r.text);
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1) as Record<string, unknown>[];
    expect(chunks).toHaveLength(5);
    const content = chunks.slice(0, 4);
    for (const c of content) expect(c).toMatchObject({ object: "text_completion", choices: [{ index: 0 }] });
    expect(content.map((c) => (c["choices"] as { finish_reason: unknown }[])[0]?.finish_reason)).toEqual([
      null,
      null,
      null,
      "length",
    ]);
    expect(chunks[4]).toMatchObject({
      choices: [],
      usage: { prompt_tokens: SYSTEM.length, completion_tokens: 4, total_tokens: SYSTEM.length + 4 },
    });
  });

  it("chat streaming starts with the role chunk and omits usage unless asked", async () => {
    const r = await post(url("/v1/chat/completions"), {
      model: "sql-lora",
      messages: [{ role: "user", content: "hi" }],
      max_tokens: 2,
      stream: true,
    });
    const events = sseData(r.text);
    expect(events[0]).toMatchObject({
      object: "chat.completion.chunk",
      choices: [{ delta: { role: "assistant", content: "" } }],
    });
    expect(events).toHaveLength(4); // role, 2 tokens, [DONE]
    expect(events.some((e) => e !== "[DONE]" && "usage" in e)).toBe(false);
  });

  it("errors: bad JSON 400, unknown model 404, OpenAI envelope", async () => {
    const bad = await post(url("/v1/chat/completions"), "{not json");
    expect(bad.status).toBe(400);
    expect(bad.json).toMatchObject({ error: { type: "BadRequestError", code: 400 } });
    const unknown = await post(url("/v1/completions"), { model: "nope", prompt: "x" });
    expect(unknown.status).toBe(404);
    expect(unknown.json).toMatchObject({ error: { param: "model", code: 404 } });
    expect((await fetch(url("/nowhere"))).status).toBe(404);
    expect((await fetch(url("/v1/completions"))).status).toBe(405);
  });

  it("/v1/models lists the base model and its adapters", async () => {
    const body = (await (await fetch(url("/v1/models"))).json()) as { data: Record<string, unknown>[] };
    expect(body.data.map((m) => [m["id"], m["parent"]])).toEqual([
      [MODEL, null],
      ["sql-lora", MODEL],
    ]);
    expect((await fetch(url("/health"))).status).toBe(200);
  });
});

describe("/tokenize", () => {
  it("prompt and messages forms give kvroute's own token ids", async () => {
    const tok = t.tokenizers.forModel(MODEL);
    const p = await post(url("/tokenize"), { model: MODEL, prompt: "héllo" });
    expect(p.json).toEqual({
      count: 6,
      max_model_len: t.pod.maxModelLen,
      tokens: Array.from(await tok.encode("héllo")),
    });
    const body = {
      messages: [
        { role: "system", content: "be brief" },
        { role: "user", content: "why?" },
      ],
    };
    const m = await post(url("/tokenize"), body);
    // kvroute routes a chat on its contents joined by a space when the tokenizer has no chat template.
    expect(chatTurns(body).map((x) => x.content)).toEqual(["be brief", "why?"]);
    expect(m.json["tokens"]).toEqual(Array.from(await tok.encode("be brief why?")));
    expect((await post(url("/tokenize"), { messages: [] })).status).toBe(400);
  });

  it("tiktoken pod: ids equal kvroute's tiktoken ids", async () => {
    const tk = await startPod({ tokenizer: "tiktoken" });
    try {
      const text = "Routing prefixes to warm caches saves prefill.";
      const r = await post(`${tk.pod.url}/tokenize`, { prompt: text });
      const ids = Array.from(await tk.tokenizers.forModel(MODEL).encode(text));
      expect(ids.length).toBeLessThan(text.length);
      expect(r.json["tokens"]).toEqual(ids);
    } finally {
      await tk.close();
    }
  });
});

describe("/metrics", () => {
  it("vLLM v1 names move after requests; kvroute's catalogue reads them", async () => {
    const before = await metrics();
    // Unique from its first block on: earlier tests cached SYSTEM.
    const prompt = `metrics ${SYSTEM}`;
    for (let i = 0; i < 2; i++) {
      const r = await post(url("/v1/completions"), { model: MODEL, prompt, max_tokens: 3 });
      expect(r.status).toBe(200);
    }
    const after = await metrics();
    const delta = (n: string): number => value(after, n) - value(before, n);
    expect(delta("vllm:prompt_tokens_total")).toBe(2 * prompt.length);
    expect(delta("vllm:generation_tokens_total")).toBe(6);
    expect(delta("vllm:prefix_cache_queries_total")).toBe(2 * prompt.length);
    // The second identical prompt hits every full block the first one cached.
    expect(delta("vllm:prefix_cache_hits_total")).toBe(Math.floor((prompt.length - 1) / 16) * 16);
    expect(delta("vllm:time_to_first_token_seconds_count")).toBe(2);
    expect(delta("vllm:e2e_request_latency_seconds_count")).toBe(2);
    const success = after.samples.get("vllm:request_success_total") ?? [];
    const length = success.find((s) => labelValue(s, "finished_reason") === "length");
    expect(length && labelValue(length, "model_name")).toBe(MODEL);
    expect(after.types.get("vllm:time_to_first_token_seconds")).toBe("histogram");

    const m = engineMetricsFromText(after, 0);
    expect(m).toMatchObject({ requestsRunning: 0, requestsWaiting: 0, blockSize: 16, numGpuBlocks: 4096 });
    expect(m.prefixCacheHitsTotal).toBe(value(after, "vllm:prefix_cache_hits_total"));
    expect(m.byModel.get(MODEL)).toEqual({ requestsRunning: 0, requestsWaiting: 0 });
    expect(m.kvCacheUsage).toBe(0);
  });

  it("a full waiting queue answers 503; a client that leaves is aborted and frees its slot", async () => {
    const busy = await startPod({
      paramsOver: { maxNumSeqs: 1, maxWaiting: 1, decodeStepBaseSeconds: 0.01 },
    });
    try {
      const u = `${busy.pod.url}/v1/completions`;
      const aborts = [new AbortController(), new AbortController()];
      const stats = (): string => `${busy.pod.engine.stats().running}/${busy.pod.engine.stats().waiting}`;
      const send = (i: number): Promise<unknown> =>
        post(u, { model: MODEL, prompt: `long ${i}`, max_tokens: 1000 }, aborts[i]?.signal).catch(
          () => undefined,
        );
      // One at a time: the engine admits on its next step, so two same-tick submits would both count as waiting.
      const long = [send(0)];
      await until(() => stats() === "1/0", "first running");
      long.push(send(1));
      await until(() => stats() === "1/1", "second waiting");
      const refused = await post(u, { model: MODEL, prompt: "third", max_tokens: 1 });
      expect(refused.status).toBe(503);
      expect(refused.json).toMatchObject({ error: { code: 503 } });
      const running = await fetch(`${busy.pod.url}/metrics`).then((r) => r.text());
      expect(engineMetricsFromText(parsePrometheusText(running), 0)).toMatchObject({
        requestsRunning: 1,
        requestsWaiting: 1,
      });
      for (const a of aborts) a.abort();
      await Promise.all(long);
      await until(() => busy.pod.engine.stats().running + busy.pod.engine.stats().waiting === 0, "aborted");
      const text = await fetch(`${busy.pod.url}/metrics`).then((r) => r.text());
      const abort = parsePrometheusText(text)
        .samples.get("vllm:request_success_total")
        ?.find((s) => labelValue(s, "finished_reason") === "abort");
      expect(abort?.value).toBe(2);
    } finally {
      await busy.close();
    }
  });
});
