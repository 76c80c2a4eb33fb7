/**
 * Header maps as they come off the wire: every odd shape has a defined outcome. A malformed map (an entry without
 * a key, an absurd entry count) ends the stream with INVALID_ARGUMENT and is counted; odd but legal shapes
 * (`value` instead of `raw_value`, both set, non-UTF-8 bytes) are decoded by a fixed rule.
 */
import * as grpc from "@grpc/grpc-js";
import type { HeaderValue, ProcessingRequest } from "../../src/extproc/messages";
import { MAX_HEADER_ENTRIES } from "../../src/extproc/headers";
import { seededRandom } from "../../src/seeded-random";
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
import { finishedLine } from "./harness-probes";
import type { Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"])];

function requestHeaders(entries: HeaderValue[]): ProcessingRequest {
  return { request_headers: { headers: { headers: entries } } };
}

function raw(key: string, v: string | Buffer): HeaderValue {
  return { key, raw_value: Buffer.isBuffer(v) ? v : Buffer.from(v) };
}

const CHAT_ENTRIES = Object.entries(CHAT_HEADERS).map(([k, v]) => raw(k, v));

describe("request header decoding", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS);
  });
  afterAll(async () => {
    await h.close();
  });

  it("an entry without a key ends the stream with INVALID_ARGUMENT, not INTERNAL", async () => {
    const s = h.client.open();
    // No `key` on the wire: protobuf has no required fields, so Envoy-shaped peers can send this.
    s.send(requestHeaders([...CHAT_ENTRIES, { raw_value: Buffer.from("v") } as HeaderValue]));
    const st = await s.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toMatch(/header-without-key/);
  });

  it("an entry with an empty key is the same protocol error", async () => {
    const s = h.client.open();
    s.send(requestHeaders([raw("", "v"), ...CHAT_ENTRIES]));
    const st = await s.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toMatch(/header-without-key/);
  });

  it("a map of more entries than the bound is refused before per-entry work", async () => {
    const many: HeaderValue[] = [...CHAT_ENTRIES];
    for (let i = many.length; i <= MAX_HEADER_ENTRIES; i++) many.push(raw(`x-h${i}`, "v"));
    const s = h.client.open();
    s.send(requestHeaders(many));
    const st = await s.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toMatch(/too-many-headers/);
  });

  it("the malformed maps are counted by reason", async () => {
    const text = await h.server.metrics.registry.getSingleMetricAsString("kvroute_errors_total");
    expect(text).toMatch(/reason="protocol:header-without-key"} 2/);
    expect(text).toMatch(/reason="protocol:too-many-headers"} 1/);
    expect(text).not.toMatch(/reason="internal"/);
  });

  it("`value` is read when `raw_value` is absent; `raw_value` wins when both are set", async () => {
    const s = h.client.open();
    await s.exchange(
      requestHeaders([
        { key: ":method", value: "POST" },
        { key: ":path", value: "/v1/unknown", raw_value: Buffer.from("/v1/chat/completions") },
        { key: "X-Request-Id", value: "from-value" },
      ]),
    );
    const [r] = await s.exchange(body(chatBody()));
    const set = setHeaders(r);
    expect(set["target-pod"]).toBe("10.0.0.1:8000");
    expect(set["x-request-id"]).toBe("from-value");
    s.end();
    await s.status;
  });

  it("non-UTF-8 raw_value bytes are kept byte for byte (latin1) and never crash the stream", async () => {
    const s = h.client.open();
    const path = Buffer.concat([Buffer.from("/v1/chat/completions"), Buffer.from([0xff, 0xfe])]);
    const [r] = await s.exchange(requestHeaders([raw(":method", "POST"), raw(":path", path)]));
    // Not the chat path once its bytes are kept: an unknown path, answered as one.
    expect(r?.immediate_response?.status.code).toBe(501);
    expect((await s.status).code).toBe(grpc.status.OK);
  });

  it("a keyless entry in the response headers is the same protocol error, and the pod is released", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    await s.exchange(body(chatBody()));
    expect(h.server.load.totalRequests()).toBe(1);
    const reply = responseHeaders(200);
    reply.response_headers?.headers?.headers?.push({ value: "v" } as HeaderValue);
    s.send(reply);
    const st = await s.status;
    expect(st.code).toBe(grpc.status.INVALID_ARGUMENT);
    expect(st.details).toMatch(/header-without-key/);
    await finishedLine(h, { outcome: "error" });
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("seeded fuzz: odd entries end each stream with a defined outcome, never INTERNAL", async () => {
    const random = seededRandom(1107);
    const pickOf = <T>(xs: readonly T[]): T => xs[Math.floor(random() * xs.length)] as T;
    const bytes = (n: number): Buffer =>
      Buffer.from(Array.from({ length: n }, () => Math.floor(random() * 256)));
    const oddEntry = (): HeaderValue =>
      pickOf<() => HeaderValue>([
        () => ({ key: `x-${Math.floor(random() * 1e6)}`, raw_value: bytes(Math.floor(random() * 64)) }),
        () => ({ key: "X-Mixed-Case", value: "v", raw_value: bytes(3) }),
        () => ({ key: "x-empty" }),
        () => ({ key: "x-value-only", value: "\u0000\r\n" }),
        () => ({ key: ":path", raw_value: bytes(8) }),
        () => ({ key: "routing-strategy", raw_value: bytes(16) }),
        () => ({ key: "user", raw_value: bytes(300) }),
        () => ({ raw_value: bytes(2) }) as HeaderValue,
        () => ({ key: "" }),
      ])();
    const outcomes = new Map<string, number>();
    for (let i = 0; i < 60; i++) {
      const entries = [...CHAT_ENTRIES];
      for (let k = Math.floor(random() * 4); k >= 0; k--) {
        entries.splice(Math.floor(random() * (entries.length + 1)), 0, oddEntry());
      }
      const s = h.client.open();
      s.send(requestHeaders(entries));
      const first = await s.next();
      let outcome: string;
      if (first?.immediate_response) outcome = `immediate-${first.immediate_response.status.code}`;
      else if (first?.request_headers) {
        const [r] = await s.exchange(body(chatBody()));
        outcome = r?.immediate_response ? `immediate-${r.immediate_response.status.code}` : "routed";
        s.end();
      } else outcome = `grpc-${(await s.status).code}`;
      const st = await s.status;
      expect([grpc.status.OK, grpc.status.INVALID_ARGUMENT]).toContain(st.code);
      outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
    }
    // The fuzz reached both sides: some streams routed, some refused as malformed.
    expect(outcomes.get("routed")).toBeGreaterThan(0);
    expect(outcomes.get(`grpc-${grpc.status.INVALID_ARGUMENT}`)).toBeGreaterThan(0);
    await h.server.extProc.idle();
    expect(h.server.load.totalRequests()).toBe(0);
    const text = await h.server.metrics.registry.getSingleMetricAsString("kvroute_errors_total");
    expect(text).not.toMatch(/reason="internal"/);
  });

  it("a well-formed stream still routes after all that", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    const [r] = await s.exchange(body(chatBody()));
    expect(setHeaders(r)["target-pod"]).toBe("10.0.0.1:8000");
    s.end();
    await s.status;
    expect(h.server.load.totalRequests()).toBe(0);
  });
});
