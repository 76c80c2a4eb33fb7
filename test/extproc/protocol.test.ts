/**
 * Out-of-order, duplicate and empty messages end the stream with INVALID_ARGUMENT (Envoy then fails the request)
 * and are counted; nothing crashes and no pod stays reserved.
 */
import * as grpc from "@grpc/grpc-js";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  pod,
  responseBody,
  responseHeaders,
  startHarness,
} from "./harness";
import { finishedLine } from "./harness-probes";
import type { Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];

describe("ext_proc protocol errors", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS);
  });
  afterAll(async () => {
    await h.close();
  });

  it("request_body before request_headers", async () => {
    const s = h.client.open();
    s.send(body(chatBody()));
    const st = await s.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toMatch(/unexpected-request-body/);
  });

  it("duplicate request_headers", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    s.send(headers(CHAT_HEADERS));
    expect((await s.status).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("an empty message", async () => {
    const s = h.client.open();
    s.send({});
    expect((await s.status).code).toBe(grpc.status.INVALID_ARGUMENT);
  });

  it("response_body before response_headers releases the reserved pod", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    await s.exchange(body(chatBody()));
    expect(h.server.load.totalRequests()).toBe(1);
    s.send(responseBody("x", true));
    expect((await s.status).code).toBe(grpc.status.INVALID_ARGUMENT);
    // (The duplicate-headers stream above ended before its decision: its line has outcome "error" and no model.)
    const line = await finishedLine(h, { outcome: "error", model: "m1" });
    expect(line["closeReason"]).toBe("error");
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("duplicate response_headers", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    await s.exchange(body(chatBody()));
    await s.exchange(responseHeaders(200));
    s.send(responseHeaders(200));
    expect((await s.status).code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("protocol errors are counted", async () => {
    const text = await h.server.metrics.registry.getSingleMetricAsString("kvroute_errors_total");
    expect(text).toMatch(/reason="protocol:unexpected-request-body"} 1/);
    expect(text).toMatch(/reason="protocol:duplicate-request-headers"} 1/);
    expect(text).toMatch(/reason="protocol:empty-message"} 1/);
  });

  it("observability mode: kvroute never replies", async () => {
    const s = h.client.open();
    s.send({ observability_mode: true, ...headers(CHAT_HEADERS) });
    s.send({ observability_mode: true, ...body(chatBody()) });
    s.send({ observability_mode: true, ...responseHeaders(200) });
    s.send({ observability_mode: true, ...responseBody("{}", true) });
    s.end();
    expect((await s.status).code).toBe(0);
    expect(await s.next()).toBeUndefined();
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("response headers before the decision (an Envoy local reply) are answered, not a protocol error", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    const [r] = await s.exchange(responseHeaders(413));
    expect(Object.keys(r ?? {})).toEqual(["response_headers"]);
    await s.exchange(responseBody("too large", true));
    s.end();
    expect((await s.status).code).toBe(0);
  });
});
