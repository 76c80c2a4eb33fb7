/**
 * Every client-facing error is an ImmediateResponse with the OpenAI envelope, JSON content type and AIBrix's
 * x-error-* header, and nothing is sent after it.
 */
import type { ProcessingResponse } from "../../src/extproc/messages";
import { CHAT_HEADERS, body, chatBody, headers, pod, setHeaders, startHarness } from "./harness";
import type { Harness } from "./harness";

const PODS = [
  pod("p1", "10.0.0.1", ["m1"]),
  pod("p2", "10.0.0.2", ["m1"]),
  pod("down", "10.0.0.9", ["m2"], false),
];

interface Expected {
  status: number;
  header?: [string, string];
  type: string;
  code?: string | null;
  param?: string | null;
  message?: string | RegExp;
}

function expectImmediate(r: ProcessingResponse | undefined, e: Expected): void {
  const ir = r?.immediate_response;
  expect(ir).toBeDefined();
  expect(ir?.status.code).toBe(e.status);
  const hs: Record<string, string> = {};
  for (const o of ir?.headers?.set_headers ?? [])
    hs[o.header.key] = Buffer.from(o.header.raw_value).toString();
  expect(hs["content-type"]).toBe("application/json");
  if (e.header) expect(hs[e.header[0]]).toBe(e.header[1]);
  const env = JSON.parse(Buffer.from(ir?.body ?? []).toString()) as { error: Record<string, unknown> };
  expect(Object.keys(env.error).sort()).toEqual(["code", "message", "param", "type"]);
  expect(env.error["type"]).toBe(e.type);
  if (e.code !== undefined) expect(env.error["code"]).toBe(e.code);
  if (e.param !== undefined) expect(env.error["param"]).toBe(e.param);
  if (e.message !== undefined) expect(env.error["message"]).toMatch(e.message);
}

describe("immediate responses", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, ["--max-body-bytes", "2048"]);
  });
  afterAll(async () => {
    await h.close();
  });

  async function bodyError(path: string, payload: string | Buffer, hdrs: Record<string, string> = {}) {
    const s = h.client.open();
    await s.exchange(headers({ ":method": "POST", ":path": path, ...hdrs }));
    const [r] = await s.exchange(body(payload));
    // The server closes the stream with OK after an immediate response and sends nothing more.
    expect((await s.status).code).toBe(0);
    expect(await s.next()).toBeUndefined();
    return r;
  }

  it.each<[string, string, string | Buffer, Record<string, string>, Expected]>([
    [
      "malformed JSON",
      "/v1/chat/completions",
      "{not json",
      {},
      {
        status: 400,
        type: "invalid_request_error",
        header: ["x-error-request-body-processing", "true"],
        code: null,
        param: null,
        message: "error processing request body",
      },
    ],
    [
      "invalid UTF-8",
      "/v1/chat/completions",
      Buffer.from([0x7b, 0xff, 0xfe, 0x7d]),
      {},
      { status: 400, type: "invalid_request_error", header: ["x-error-request-body-processing", "true"] },
    ],
    [
      "missing model",
      "/v1/chat/completions",
      JSON.stringify({ messages: [{ role: "user", content: "x" }] }),
      {},
      { status: 400, type: "invalid_request_error", param: "model" },
    ],
    [
      "wrong-typed stream",
      "/v1/chat/completions",
      chatBody("m1", "x", { stream: "yes" }),
      {},
      { status: 400, type: "invalid_request_error", param: "stream" },
    ],
    [
      "empty messages",
      "/v1/chat/completions",
      JSON.stringify({ model: "m1", messages: [] }),
      {},
      { status: 400, type: "invalid_request_error", param: "messages" },
    ],
    [
      "unknown model",
      "/v1/chat/completions",
      chatBody("nope"),
      {},
      {
        status: 400,
        type: "invalid_request_error",
        header: ["x-error-no-model-backends", "nope"],
        code: "model_not_found",
        param: "model",
        message: "model nope does not exist",
      },
    ],
    [
      "invalid strategy",
      "/v1/chat/completions",
      chatBody(),
      { "routing-strategy": "warp-drive" },
      {
        status: 400,
        type: "invalid_request_error",
        header: ["x-error-routing", "true"],
        message: /incorrect routing strategy/,
      },
    ],
    [
      "no ready pod",
      "/v1/chat/completions",
      chatBody("m2"),
      {},
      {
        status: 503,
        type: "overloaded_error",
        header: ["x-error-no-model-backends", "true"],
        code: "service_unavailable",
      },
    ],
    [
      "body over the limit",
      "/v1/chat/completions",
      chatBody("m1", "x".repeat(4096)),
      {},
      { status: 413, type: "invalid_request_error", header: ["x-error-request-body-processing", "true"] },
    ],
  ])("%s", async (_name, path, payload, hdrs, expected) => {
    expectImmediate(await bodyError(path, payload, hdrs), expected);
  });

  it("unknown path: 501 at request-headers time", async () => {
    const s = h.client.open();
    const [r] = await s.exchange(headers({ ":method": "POST", ":path": "/v1/unknown" }));
    expectImmediate(r, {
      status: 501,
      type: "api_error",
      header: ["x-error-request-body-processing", "true"],
    });
    expect((await s.status).code).toBe(0);
  });

  it("a body-less request: 400", async () => {
    const s = h.client.open();
    const [r] = await s.exchange(headers(CHAT_HEADERS, true));
    expectImmediate(r, { status: 400, type: "invalid_request_error", message: /body is required/ });
  });

  it("a body over the limit in STREAMED chunks: 413 as soon as the limit is crossed", async () => {
    const s = h.client.open();
    s.send({
      protocol_config: { request_body_mode: "STREAMED", send_body_without_waiting_for_header_response: true },
      ...headers(CHAT_HEADERS),
    });
    s.send(body("x".repeat(1500), false));
    const [r] = await s.exchange(body("x".repeat(1500), false));
    expectImmediate(r, { status: 413, type: "invalid_request_error" });
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("errors are counted by reason", async () => {
    const text = await h.server.metrics.registry.getSingleMetricAsString("kvroute_errors_total");
    expect(text).toMatch(/reason="bad_request"} [1-9]/);
    expect(text).toMatch(/reason="unknown_model"} [1-9]/);
    expect(text).toMatch(/reason="payload_too_large"} [1-9]/);
  });
});

describe("body size limit and the gRPC message limit", () => {
  it("a BUFFERED body of exactly the limit is parsed and routed, one byte more is 413", async () => {
    const limit = 1 << 20;
    const h = await startHarness(PODS, [
      "--max-body-bytes",
      String(limit),
      "--grpc-max-message-size-bytes",
      String(limit),
    ]);
    try {
      const base = chatBody("m1", "x".repeat(1000));
      const atLimit = base + " ".repeat(limit - Buffer.byteLength(base));
      const s = h.client.open();
      await s.exchange(headers(CHAT_HEADERS));
      const [ok] = await s.exchange(body(atLimit));
      expect(setHeaders(ok)["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
      s.end();
      await s.status;
      const t = h.client.open();
      await t.exchange(headers(CHAT_HEADERS));
      const [tooBig] = await t.exchange(body(atLimit + " "));
      expectImmediate(tooBig, { status: 413, type: "invalid_request_error" });
    } finally {
      await h.close();
    }
  });
});

describe("gateway API key", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, [], { AIBRIX_AUTH_BEARER_TOKEN: "s3cret" });
  });
  afterAll(async () => {
    await h.close();
  });

  it.each([[undefined], ["Bearer wrong"], ["Basic s3cret"], ["Bearer s3cret2"]])(
    "rejects %s with 401",
    async (auth) => {
      const s = h.client.open();
      const [r] = await s.exchange(headers({ ...CHAT_HEADERS, ...(auth ? { authorization: auth } : {}) }));
      expectImmediate(r, {
        status: 401,
        type: "authentication_error",
        code: "invalid_api_key",
        param: "api_key",
      });
    },
  );

  it("accepts the right token (scheme case-insensitive)", async () => {
    const s = h.client.open();
    await s.exchange(headers({ ...CHAT_HEADERS, authorization: "bearer  s3cret " }));
    const [r] = await s.exchange(body(chatBody()));
    expect(setHeaders(r)["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
    s.end();
    await s.status;
  });
});
