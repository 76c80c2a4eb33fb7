/**
 * Memory bounds on request bodies, over a real gRPC client: a budget shared by every stream's buffered body (a
 * stream whose next chunk does not fit gets the 503 envelope, and every stream gives its bytes back exactly once),
 * and a transport cap kept apart from the body cap, so an oversize body gets kvroute's 413 instead of a gRPC
 * RESOURCE_EXHAUSTED (which Envoy turns into a bare 500).
 */
import * as grpc from "@grpc/grpc-js";
import type { ProcessingResponse } from "../../src/extproc/messages";
import { CHAT_HEADERS, body, chatBody, headers, pod, setHeaders, startHarness } from "./harness";
import { metricValue } from "./harness-probes";
import type { ExtProcStream, Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"])];

function immediate(r: ProcessingResponse | undefined): {
  status: number;
  headers: Record<string, string>;
  type: string;
} {
  const ir = r?.immediate_response;
  const hs: Record<string, string> = {};
  for (const o of ir?.headers?.set_headers ?? [])
    hs[o.header.key] = Buffer.from(o.header.raw_value).toString();
  const env = JSON.parse(Buffer.from(ir?.body ?? []).toString() || "{}") as { error?: { type?: string } };
  return { status: ir?.status.code ?? 0, headers: hs, type: env.error?.type ?? "" };
}

async function gauge(h: Harness): Promise<number> {
  return metricValue(h, "kvroute_buffered_body_bytes");
}

/** A STREAMED request whose headers were answered: each body chunk is acknowledged once it was accounted. */
async function streamed(h: Harness): Promise<ExtProcStream> {
  const s = h.client.open();
  await s.exchange({ protocol_config: { request_body_mode: "STREAMED" }, ...headers(CHAT_HEADERS) });
  return s;
}

describe("global buffered-body budget", () => {
  const CHUNK = 40_000;
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, ["--max-body-bytes", "65536", "--max-buffered-bytes", String(100_000)]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("a stream whose chunk would exceed the budget gets 503 with a reason header; bytes go back exactly once", async () => {
    const full = chatBody("m1", "x".repeat(50_000));
    const a = await streamed(h);
    const [ackA] = await a.exchange(body(full.slice(0, CHUNK), false));
    expect(ackA?.request_body).toBeDefined();
    const b = await streamed(h);
    await b.exchange(body("y".repeat(CHUNK), false));
    expect(await gauge(h)).toBe(2 * CHUNK);

    // A third stream's chunk does not fit: 503, the overload header, and the stream ends OK.
    const c = await streamed(h);
    const [refused] = await c.exchange(body("z".repeat(CHUNK), false));
    const e = immediate(refused);
    expect(e.status).toBe(503);
    expect(e.headers["x-error-body-buffer-full"]).toBe("true");
    expect(e.type).toBe("overloaded_error");
    expect((await c.status).code).toBe(grpc.status.OK);
    expect(await gauge(h)).toBe(2 * CHUNK);

    // A finishes its body (it fits: 90,000 bytes in all) and is routed: its bytes go back at the decision.
    const [decided] = await a.exchange(body(full.slice(CHUNK), true));
    expect(setHeaders(decided)["target-pod"]).toBe("10.0.0.1:8000");
    expect(await gauge(h)).toBe(CHUNK);

    // Room again for another stream; and one that then goes over the body cap gives its bytes back with the 413.
    const d = await streamed(h);
    await d.exchange(body("w".repeat(CHUNK), false));
    const [tooBig] = await d.exchange(body("w".repeat(30_000), false));
    expect(immediate(tooBig).status).toBe(413);
    expect(await gauge(h)).toBe(CHUNK);

    // B is cancelled mid-body, A ends normally: once every stream is closed, the budget is empty.
    b.cancel();
    a.end();
    await h.server.extProc.idle();
    expect(await gauge(h)).toBe(0);

    const text = await h.server.metrics.registry.getSingleMetricAsString("kvroute_errors_total");
    expect(text).toMatch(/reason="overloaded"} 1/);
  });

  it("the budget is reusable in full after every stream ended", async () => {
    const streams = [await streamed(h), await streamed(h)];
    for (const s of streams) await s.exchange(body("v".repeat(CHUNK), false));
    expect(await gauge(h)).toBe(2 * CHUNK);
    for (const s of streams) s.cancel();
    await h.server.extProc.idle();
    expect(await gauge(h)).toBe(0);
  });
});

describe("transport cap apart from the body cap", () => {
  const MIB = 1024 * 1024;
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, [
      "--max-body-bytes",
      String(MIB),
      "--grpc-max-message-size-bytes",
      String(MIB),
    ]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("a BUFFERED body of max-body + 1 MiB in one message gets the 413 envelope, not RESOURCE_EXHAUSTED", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    s.send(body(chatBody("m1", "x".repeat(2 * MIB - 100))));
    const r = await s.next();
    const e = immediate(r);
    expect(e.status).toBe(413);
    expect(e.headers["x-error-request-body-processing"]).toBe("true");
    expect((await s.status).code).toBe(grpc.status.OK);
  });

  it("the same body in STREAMED chunks gets the 413 envelope when the limit is crossed", async () => {
    const s = h.client.open();
    s.send({ protocol_config: { request_body_mode: "STREAMED" }, ...headers(CHAT_HEADERS) });
    const text = chatBody("m1", "x".repeat(2 * MIB - 100));
    const step = 256 * 1024;
    for (let at = 0; at < text.length; at += step)
      s.send(body(text.slice(at, at + step), at + step >= text.length));
    let last: ProcessingResponse | undefined;
    for (let r = await s.next(); r; r = await s.next()) last = r;
    expect(immediate(last).status).toBe(413);
    expect((await s.status).code).toBe(grpc.status.OK);
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("beyond the transport cap (2 x max-body + 64 KiB) the message is refused by gRPC, as documented", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    s.send(body(Buffer.alloc(2 * MIB + 128 * 1024, 0x20)));
    expect((await s.status).code).toBe(grpc.status.RESOURCE_EXHAUSTED);
  });
});
