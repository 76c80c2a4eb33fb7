/**
 * Bounded cost per request whatever the client sends, through the real gRPC server: the gateway API key header is
 * length-capped, body shapes (item count, nesting) are refused before any per-item work, clients can be kept from
 * choosing the strategy, and the approximate prefix index does not learn a prompt whose request failed.
 */
import type { ProcessingResponse } from "../../src/extproc/messages";
import type { Harness } from "./harness";
import { debugPods, finishedLine, metricValue } from "./harness-probes";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  pod,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];

/** The value of `kvroute_request_bounds_total{bound}` (0 when absent). */
async function boundCount(h: Harness, bound: string): Promise<number> {
  return metricValue(h, "kvroute_request_bounds_total", { bound });
}

function errorOf(r: ProcessingResponse | undefined): { status: number; error: Record<string, unknown> } {
  const ir = r?.immediate_response;
  if (!ir) throw new Error(`expected an immediate response, got ${JSON.stringify(r)}`);
  const env = JSON.parse(Buffer.from(ir.body ?? []).toString()) as { error: Record<string, unknown> };
  return { status: ir.status.code, error: env.error };
}

/** Send a chat body; the reply to the body message. */
async function sendChat(h: Harness, payload: string, extra: Record<string, string> = {}) {
  const s = h.client.open();
  await s.exchange(headers({ ...CHAT_HEADERS, ...extra }));
  const [r] = await s.exchange(body(payload));
  s.cancel();
  return r;
}

/** `levels` nested arrays around `inner`. */
const nested = (levels: number, inner = "0"): string => "[".repeat(levels) + inner + "]".repeat(levels);

describe("body shape bounds", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, ["--max-messages", "8", "--max-body-bytes", String(8 * 1024 * 1024)]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("refuses more messages than --max-messages with OpenAI's over-long-array 400, counted", async () => {
    const messages = Array.from({ length: 9 }, () => ({ role: "user", content: "hi" }));
    const r = await sendChat(h, JSON.stringify({ model: "m1", messages }));
    const { status, error } = errorOf(r);
    expect(status).toBe(400);
    expect(error["param"]).toBe("messages");
    expect(error["code"]).toBe("array_above_max_length");
    expect(error["message"]).toMatch(/more than 8 items/);
    expect(await boundCount(h, "messages")).toBe(1);
    // At the bound: routed.
    const ok = await sendChat(h, JSON.stringify({ model: "m1", messages: messages.slice(0, 8) }));
    expect(setHeaders(ok)["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
  });

  it("counts content parts with their messages", async () => {
    const parts = Array.from({ length: 8 }, () => ({ type: "text", text: "x" }));
    const r = await sendChat(
      h,
      JSON.stringify({ model: "m1", messages: [{ role: "user", content: parts }] }),
    );
    expect(errorOf(r).status).toBe(400);
    expect(errorOf(r).error["param"]).toBe("messages");
  });

  it("refuses a million empty messages before parsing them (the array/object bound), counted", async () => {
    const payload = `{"model":"m1","messages":[${"{},".repeat(999_999)}{}]}`;
    const r = await sendChat(h, payload);
    const { status, error } = errorOf(r);
    expect(status).toBe(400);
    // --max-messages 8 here: the bound is max(4096, 16 × 8) arrays and objects.
    expect(error["message"]).toMatch(/more than 4096 arrays and objects/);
    expect(await boundCount(h, "json-containers")).toBe(1);
  });

  it("refuses 4 MB of small nested arrays in any field before JSON.parse (0.5 s of loop each before)", async () => {
    const junk = Array.from({ length: 300 }, () => nested(120)).join(",");
    const payload = `{"model":"m1","messages":[{"role":"user","content":"hi"}],"x":[${junk}]}`;
    const r = await sendChat(h, payload);
    expect(errorOf(r)).toMatchObject({ status: 400 });
    expect(errorOf(r).error["message"]).toMatch(/arrays and objects/);
    expect(await boundCount(h, "json-containers")).toBe(2);
    // Under the bound: routed.
    const fine = `{"model":"m1","messages":[{"role":"user","content":"hi"}],"x":[${nested(120)}]}`;
    expect(setHeaders(await sendChat(h, fine))["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
  });

  it("refuses a body of many distinct object keys, or long ones, before JSON.parse (0.2-0.4 s of loop each before)", async () => {
    const keys = (n: number, width: number) =>
      Array.from({ length: n }, (_, i) => `"${i.toString(36).padStart(width, "k")}":0`).join(",");
    const chat = (extra: string) =>
      `{"model":"m1","messages":[{"role":"user","content":"hi"}],"x":{${extra}}}`;
    // --max-messages 8 here: at most max(4096, 8 × 8) keys, and 8 bytes of keys for each.
    const many = await sendChat(h, chat(keys(100_000, 6)));
    expect(errorOf(many)).toMatchObject({ status: 400, error: { message: /more than 4096 object keys/ } });
    expect(await boundCount(h, "json-keys")).toBe(1);
    const long = await sendChat(h, chat(keys(600, 60)));
    expect(errorOf(long)).toMatchObject({ status: 400, error: { message: /32768 bytes of them/ } });
    expect(await boundCount(h, "json-keys")).toBe(2);
    // At the bounds (the body's own 5 keys count too): routed.
    expect(setHeaders(await sendChat(h, chat(keys(4091, 6))))["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
  });

  it("refuses a prompt array longer than the bound, but not a long token-id prompt", async () => {
    const s = h.client.open();
    await s.exchange(headers({ ":method": "POST", ":path": "/v1/completions" }));
    const strings = Array.from({ length: 9 }, () => "a");
    const [r] = await s.exchange(body(JSON.stringify({ model: "m1", prompt: strings })));
    expect(errorOf(r)).toMatchObject({ status: 400, error: { param: "prompt" } });
    const t = h.client.open();
    await t.exchange(headers({ ":method": "POST", ":path": "/v1/completions" }));
    const ids = Array.from({ length: 10_000 }, (_, i) => i);
    const [ok] = await t.exchange(body(JSON.stringify({ model: "m1", prompt: ids })));
    expect(setHeaders(ok)["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
    t.cancel();
  });

  it("refuses nesting deeper than --max-json-depth (default 128) before parsing, counted", async () => {
    const part = (levels: number) => `{"type":"image_url","image_url":${nested(levels)}}`;
    const deep = `{"model":"m1","messages":[{"role":"user","content":[${part(124)}]}]}`; // 5 + 124 = 129 levels
    const r = await sendChat(h, deep);
    expect(errorOf(r)).toMatchObject({ status: 400, error: { message: /deeper than 128 levels/ } });
    expect(await boundCount(h, "json-depth")).toBe(1);
    const atBound = `{"model":"m1","messages":[{"role":"user","content":[${part(123)}]}]}`; // 128 levels
    expect(setHeaders(await sendChat(h, atBound))["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
  });

  it("does not count brackets inside strings (escaped quotes included)", async () => {
    const text = '[{\\"'.repeat(500) + "\\\\";
    const payload = `{"model":"m1","messages":[{"role":"user","content":"${text}"}]}`;
    expect(JSON.parse(payload)).toBeDefined();
    expect(setHeaders(await sendChat(h, payload))["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
  });
});

describe("Authorization header bound", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, [], { AIBRIX_AUTH_BEARER_TOKEN: "s3cret" });
  });
  afterAll(async () => {
    await h.close();
  });

  it("refuses an over-long header with 401 before parsing it, counted; a normal one still works", async () => {
    const s = h.client.open();
    const long = `Bearer ${" ".repeat(60_000)}s3cret${" ".repeat(10)}x`;
    const [r] = await s.exchange(headers({ ...CHAT_HEADERS, authorization: long }));
    expect(errorOf(r).status).toBe(401);
    expect(await boundCount(h, "authorization-length")).toBe(1);
    const t = h.client.open();
    await t.exchange(headers({ ...CHAT_HEADERS, authorization: `Bearer ${" ".repeat(100)}s3cret ` }));
    const [ok] = await t.exchange(body(chatBody()));
    expect(setHeaders(ok)["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
    t.cancel();
  });
});

describe("--allow-strategy-header", () => {
  const routeWith = async (h: Harness, strategy: string) => {
    const s = h.client.open();
    await s.exchange(headers({ ...CHAT_HEADERS, "routing-strategy": strategy }));
    const [r] = await s.exchange(body(chatBody()));
    s.cancel();
    return r;
  };

  it("on (default, as AIBrix): the header chooses the strategy; an unknown one is a 400", async () => {
    const h = await startHarness(PODS);
    try {
      expect(setHeaders(await routeWith(h, "random"))["routing-strategy"]).toBe("random");
      expect(errorOf(await routeWith(h, "no-such-strategy")).status).toBe(400);
      expect(await boundCount(h, "strategy-header")).toBe(0);
    } finally {
      await h.close();
    }
  });

  it("off: the header is ignored (counted) and the default strategy routes", async () => {
    const h = await startHarness(PODS, ["--routing-algorithm", "least-request"], {
      KVROUTE_ALLOW_STRATEGY_HEADER: "false",
    });
    try {
      for (const strategy of ["random", "no-such-strategy", "prefix-cache"]) {
        const r = await routeWith(h, strategy);
        expect(setHeaders(r)["routing-strategy"]).toBe("least-request");
        expect(setHeaders(r)["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
      }
      expect(await boundCount(h, "strategy-header")).toBe(3);
    } finally {
      await h.close();
    }
  });
});

describe("approximate prefix index and failed requests", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS);
  });
  afterAll(async () => {
    await h.close();
  });

  async function approximateBlocks(): Promise<Record<string, number>> {
    const pods = await debugPods<{ address: string; prefix: { approximateBlocks: number } }>(h);
    return Object.fromEntries(pods.map((p) => [p.address, p.prefix.approximateBlocks]));
  }

  /** A prefix-cache request of 4 blocks of token ids, answered by the upstream with `status`; its pod. */
  async function routeAndAnswer(first: number, status: number): Promise<string> {
    const s = h.client.open();
    await s.exchange(
      headers({ ":method": "POST", ":path": "/v1/completions", "routing-strategy": "prefix-cache" }),
    );
    const prompt = Array.from({ length: 64 }, (_, i) => first + i);
    const [r] = await s.exchange(body(JSON.stringify({ model: "m1", prompt })));
    const target = setHeaders(r)["target-pod"] ?? "";
    await s.exchange(responseHeaders(status, {}, true));
    s.end();
    await s.status;
    await finishedLine(h, { status });
    return target;
  }

  it("does not learn the prompt of a request the upstream answered with 5xx (nor 4xx)", async () => {
    const failed = await routeAndAnswer(1000, 503);
    expect((await approximateBlocks())[failed]).toBe(0);
    const refused = await routeAndAnswer(3000, 429);
    expect((await approximateBlocks())[refused]).toBe(0);
    const forgotten = await h.server.metrics.registry.getSingleMetricAsString(
      "kvroute_prefix_forgotten_total",
    );
    expect(forgotten).toMatch(/^kvroute_prefix_forgotten_total 2$/m);
  });

  it("learns the prompt of a request that succeeded", async () => {
    const ok = await routeAndAnswer(2000, 200);
    expect((await approximateBlocks())[ok]).toBeGreaterThan(0);
  });
});

describe("approximate prefix index bounds with stale metrics", () => {
  it("records at most --prefix-max-prompt-blocks of a prompt and --prefix-pod-max-blocks per pod", async () => {
    // No scrapes: no pod's num_gpu_blocks is ever fresh, so only the fallback bounds a pod.
    const h = await startHarness(
      [pod("p1", "10.0.0.1", ["m1"])],
      ["--prefix-max-prompt-blocks", "64", "--prefix-pod-max-blocks", "100"],
    );
    try {
      const blocks = async (): Promise<number> => {
        const pods = await debugPods<{ prefix: { approximateBlocks: number } }>(h);
        return pods[0]?.prefix.approximateBlocks ?? -1;
      };
      for (let round = 0; round < 3; round++) {
        const s = h.client.open();
        await s.exchange(
          headers({ ":method": "POST", ":path": "/v1/completions", "routing-strategy": "prefix-cache" }),
        );
        // 10,000 tokens: 625 blocks of 16, each round a different prompt.
        const prompt = Array.from({ length: 10_000 }, (_, i) => round * 100_000 + i);
        const [r] = await s.exchange(body(JSON.stringify({ model: "m1", prompt })));
        expect(setHeaders(r)["target-pod"]).toBe("10.0.0.1:8000");
        s.cancel();
        expect(await blocks()).toBe(Math.min(100, 64 * (round + 1)));
      }
    } finally {
      await h.close();
    }
  });
});
