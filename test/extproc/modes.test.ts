/**
 * Full ext_proc conversations over real gRPC on loopback, in every request/response body mode.
 */
import type { ProcessingResponse } from "../../src/extproc/messages";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  pod,
  responseBody,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";
import { finishedLine } from "./harness-probes";
import type { Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"]), pod("p3", "10.0.0.3", ["m1"])];
const ADDRESSES = PODS.map((p) => p.address);
const REQ_HEADERS = { ...CHAT_HEADERS, "x-request-id": "req-1" };

function expectDecision(
  r: ProcessingResponse | undefined,
  phase: "request_headers" | "request_body",
): string {
  expect(r && Object.keys(r).filter((k) => k !== "dynamic_metadata")).toEqual([phase]);
  const set = setHeaders(r);
  expect(ADDRESSES).toContain(set["target-pod"]);
  expect(set["x-gateway-destination-endpoint"]).toBe(set["target-pod"]);
  expect(set["routing-strategy"]).toBe("least-request");
  expect(set["x-request-id"]).toBe("req-1");
  expect(r?.[phase]?.response?.clear_route_cache).toBe(true);
  // Header values are raw_value only: Envoy rejects a mutation carrying both.
  for (const o of r?.[phase]?.response?.header_mutation?.set_headers ?? [])
    expect("value" in o.header).toBe(false);
  const lb = r?.dynamic_metadata?.fields["envoy.lb"]?.structValue?.fields["x-gateway-destination-endpoint"];
  // The pick first, then the two other ready pods as fallback endpoints.
  const listed = lb?.stringValue?.split(",") ?? [];
  expect(listed[0]).toBe(set["target-pod"]);
  expect([...listed].sort()).toEqual([...ADDRESSES].sort());
  return set["target-pod"] ?? "";
}

const SSE =
  'data: {"id":"c1","choices":[{"delta":{"content":"hi"}}]}\n\n' +
  'data: {"id":"c1","choices":[],"usage":{"prompt_tokens":7,"completion_tokens":3,"total_tokens":10}}\n\n' +
  "data: [DONE]\n\n";

describe("ext_proc modes", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(PODS);
  });
  afterEach(async () => {
    await h.close();
  });

  it("BUFFERED: strips client routing headers, routes on the body, annotates the response, releases once", async () => {
    const s = h.client.open();
    const [hr] = await s.exchange(
      headers({
        ...CHAT_HEADERS,
        "x-request-id": "req-1",
        "target-pod": "6.6.6.6:1",
        "x-gateway-destination-endpoint": "6.6.6.6:1",
      }),
    );
    expect(hr?.request_headers?.response?.header_mutation?.remove_headers).toEqual([
      "target-pod",
      "x-gateway-destination-endpoint",
      "x-gateway-destination-endpoint-subset",
      "x-gateway-destination-endpoint-served",
      "x-gateway-inference-objective",
      "x-gateway-inference-fairness-id",
      "x-gateway-model-name-rewrite",
      "test-epp-endpoint-selection",
    ]);
    const [br] = await s.exchange(body(chatBody("m1", "hello", { stream: true })));
    const address = expectDecision(br, "request_body");
    expect(h.server.load.totalRequests()).toBe(1);

    const [rh] = await s.exchange(responseHeaders(200, { "content-type": "text/event-stream" }));
    const rset = setHeaders(rh);
    const chosen = PODS.find((p) => p.address === address);
    expect(rset["target-pod"]).toBe(chosen?.name);
    expect(rset["target-pod-ip"]).toBe(address);
    expect(rset["request-id"]).toBe("req-1");
    // An SSE event split across two chunks must still yield usage.
    const cut = SSE.indexOf("completion_tokens");
    const [b1] = await s.exchange(responseBody(SSE.slice(0, cut), false));
    expect(b1).toEqual({ response_body: {} });
    await s.exchange(responseBody(SSE.slice(cut), true));
    expect(h.server.load.totalRequests()).toBe(0);
    const line = await finishedLine(h);
    expect(line).toMatchObject({
      requestId: "req-1",
      model: "m1",
      pod: chosen?.name,
      status: 200,
      outcome: "success",
    });
    expect(line).toMatchObject({ promptTokens: 7, completionTokens: 3, totalTokens: 10 });
    expect(JSON.stringify(line)).not.toContain("hello");
    s.end();
    expect((await s.status).code).toBe(0);
  });

  it("STREAMED without waiting: asks Envoy to buffer, answers each chunk, decides on the last", async () => {
    const s = h.client.open();
    const [hr] = await s.exchange({
      protocol_config: { request_body_mode: "STREAMED" },
      ...headers({ ...CHAT_HEADERS, "x-request-id": "req-1" }),
    });
    expect(hr?.mode_override).toEqual({ request_body_mode: "BUFFERED" });
    const text = chatBody();
    const [c1] = await s.exchange(body(text.slice(0, 10), false));
    expect(c1).toEqual({ request_body: {} });
    const [c2] = await s.exchange(body(text.slice(10), true));
    expectDecision(c2, "request_body");
    s.end();
  });

  it("STREAMED with send_body_without_waiting_for_header_response: holds the headers reply until the body ends", async () => {
    const s = h.client.open();
    const text = chatBody();
    s.send({
      protocol_config: { request_body_mode: "STREAMED", send_body_without_waiting_for_header_response: true },
      ...headers({ ...CHAT_HEADERS, "x-request-id": "req-1" }),
    });
    s.send(body(text.slice(0, 5), false));
    s.send(body(text.slice(5, 12), false));
    const replies = await s.exchange(body(text.slice(12), true), 4);
    expectDecision(replies[0], "request_headers");
    expect(replies.slice(1)).toEqual([{ request_body: {} }, { request_body: {} }, { request_body: {} }]);
    s.end();
  });

  it("FULL_DUPLEX_STREAMED: one headers reply with the decision, then the body streamed back whole", async () => {
    const s = h.client.open();
    const text = chatBody("m1", "a longer prompt split into pieces");
    s.send({
      protocol_config: {
        request_body_mode: "FULL_DUPLEX_STREAMED",
        response_body_mode: "FULL_DUPLEX_STREAMED",
      },
      ...headers({ ...CHAT_HEADERS, "x-request-id": "req-1" }),
    });
    s.send(body(text.slice(0, 7), false));
    s.send(body(text.slice(7, 20), false));
    const [hr, br] = await s.exchange(body(text.slice(20), true), 2);
    expectDecision(hr, "request_headers");
    const streamed = br?.request_body?.response?.body_mutation?.streamed_response;
    expect(Buffer.from(streamed?.body ?? []).toString()).toBe(text);
    expect(streamed?.end_of_stream).toBe(true);
    expect(s.pending()).toBe(0);

    await s.exchange(responseHeaders(200));
    const [rb] = await s.exchange(responseBody('{"usage":{"prompt_tokens":1,', false));
    expect(
      Buffer.from(rb?.response_body?.response?.body_mutation?.streamed_response?.body ?? []).toString(),
    ).toBe('{"usage":{"prompt_tokens":1,');
    const [last] = await s.exchange(responseBody('"completion_tokens":2}}', true));
    expect(last?.response_body?.response?.body_mutation?.streamed_response?.end_of_stream).toBe(true);
    expect(h.server.load.totalRequests()).toBe(0);
    s.end();
  });

  it("FULL_DUPLEX_STREAMED with request trailers: the trailers end the body", async () => {
    const s = h.client.open();
    const text = chatBody();
    s.send({ protocol_config: { request_body_mode: "FULL_DUPLEX_STREAMED" }, ...headers(CHAT_HEADERS) });
    s.send(body(text, false));
    const [hr, br, tr] = await s.exchange({ request_trailers: { trailers: { headers: [] } } }, 3);
    expect(setHeaders(hr)["target-pod"]).toBeDefined();
    expect(br?.request_body?.response?.body_mutation?.streamed_response?.end_of_stream).toBeFalsy();
    expect(Object.keys(tr ?? {})).toEqual(["request_trailers"]);
    s.end();
  });

  it("BUFFERED with request trailers (body without end_of_stream, as Envoy sends it then): routed on the body", async () => {
    const s = h.client.open();
    await s.exchange({ protocol_config: { request_body_mode: "BUFFERED" }, ...headers(REQ_HEADERS) });
    const [br] = await s.exchange(body(chatBody(), false));
    expectDecision(br, "request_body");
    const [tr] = await s.exchange({ request_trailers: { trailers: { headers: [] } } });
    expect(Object.keys(tr ?? {})).toEqual(["request_trailers"]);
    s.end();
  });

  it("BUFFERED_PARTIAL without end_of_stream: a whole JSON object is routed, a cut one is the proxy's 413", async () => {
    const open = async () => {
      const s = h.client.open();
      await s.exchange({
        protocol_config: { request_body_mode: "BUFFERED_PARTIAL" },
        ...headers(REQ_HEADERS),
      });
      return s;
    };
    const whole = await open();
    const [routed] = await whole.exchange(body(`${chatBody()}\n`, false));
    expectDecision(routed, "request_body");
    whole.end();
    const text = chatBody("m1", "a long enough prompt", { tools: [{ type: "function" }] });
    // Cut inside the top-level object, also just after an inner object closes (the text then ends in a brace).
    for (const cut of [text.length - 1, text.indexOf("}") + 1, 10]) {
      const s = await open();
      const [r] = await s.exchange(body(text.slice(0, cut), false));
      expect(r?.immediate_response?.status?.code).toBe(413);
      expect(Buffer.from(r?.immediate_response?.body ?? []).toString()).toMatch(/truncated by the proxy/);
      s.end();
    }
  });

  it("takes the mode from configuration when Envoy sends no protocol_config", async () => {
    await h.close();
    h = await startHarness(PODS, ["--request-body-mode", "FULL_DUPLEX_STREAMED"]);
    const s = h.client.open();
    s.send(headers(CHAT_HEADERS));
    const [hr, br] = await s.exchange(body(chatBody(), true), 2);
    expect(setHeaders(hr)["target-pod"]).toBeDefined();
    expect(br?.request_body?.response?.body_mutation?.streamed_response?.end_of_stream).toBe(true);
    s.end();
  });

  it("response body mode NONE: Envoy closing after the response headers completes the request", async () => {
    const s = h.client.open();
    s.send({
      protocol_config: { request_body_mode: "BUFFERED", response_body_mode: "NONE" },
      ...headers(CHAT_HEADERS),
    });
    await s.next();
    await s.exchange(body(chatBody()));
    await s.exchange(responseHeaders(200));
    expect(h.server.load.totalRequests()).toBe(1);
    s.end();
    await s.status;
    const line = await finishedLine(h);
    expect(line["outcome"]).toBe("success");
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("upstream error status is recorded and the pod released", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    await s.exchange(body(chatBody()));
    await s.exchange(responseHeaders(500));
    await s.exchange(responseBody('{"error":{"message":"boom"}}', true));
    const line = await finishedLine(h);
    expect(line).toMatchObject({ status: 500, outcome: "upstream-error" });
    expect(h.server.load.totalRequests()).toBe(0);
    s.end();
  });
});

describe("every body kind routes", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS);
  });
  afterAll(async () => {
    await h.close();
  });

  it.each([
    ["/v1/chat/completions", { model: "m1", messages: [{ role: "user", content: "hi" }] }],
    [
      "/v1/chat/completions",
      { model: "m1", messages: [{ role: "user", content: [{ type: "text", text: "hi" }] }] },
    ],
    ["/v1/completions", { model: "m1", prompt: "hi" }],
    ["/v1/completions", { model: "m1", prompt: ["a", "b"] }],
    ["/v1/completions", { model: "m1", prompt: [1, 2, 3] }],
    ["/v1/embeddings", { model: "m1", input: "hi" }],
    ["/v1/responses", { model: "m1", input: "hi" }],
    ["/v1/messages", { model: "m1", max_tokens: 10, messages: [{ role: "user", content: "hi" }] }],
    ["/v1/rerank", { model: "m1", query: "q", documents: ["a", "b"] }],
    ["/v1/classify", { model: "m1", input: ["a"] }],
    ["/v1/chat/completions?api-version=1", { model: "m1", messages: [{ role: "user", content: "hi" }] }],
  ])("%s %j", async (path, payload) => {
    const s = h.client.open();
    await s.exchange(headers({ ":method": "POST", ":path": path }));
    const [r] = await s.exchange(body(JSON.stringify(payload)));
    expect(ADDRESSES).toContain(setHeaders(r)["target-pod"]);
    s.end();
    await s.status;
  });
});
