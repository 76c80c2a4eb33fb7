/**
 * End to end through the real gRPC server and a real redis-server: a GPU profile published in Redis makes each pod
 * hold one request (throughput × latency = 1). With two pods, two requests route, the third waits in the headroom
 * queue and goes to the pod the first response frees; a bounded wait answers 503 and a full queue 429.
 */
import Redis from "ioredis";
import type { ProcessingResponse } from "../../src/extproc/messages";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  responseBody,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";
import { metricValue } from "./harness-probes";
import { SLO_DEPLOYMENT, SLO_PODS, SLO_PROFILE, SLO_PROFILE_KEY, until } from "./slo-fleet";
import type { ExtProcStream, Harness } from "./harness";

const PODS = SLO_PODS;
const USAGE = '{"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}}';
const SLO = { ...CHAT_HEADERS, "routing-strategy": "slo" };

describe("SLO routing with the headroom queue", () => {
  let redis: TestRedisServer;
  let reader: Redis;
  const harnesses: Harness[] = [];
  const streams: ExtProcStream[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    reader = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
    await reader.set(SLO_PROFILE_KEY, JSON.stringify(SLO_PROFILE));
  });
  afterAll(async () => {
    for (const s of streams) s.cancel();
    for (const h of harnesses) await h.close();
    reader.disconnect();
    await redis.stop();
  });

  /** A wall time on a 10 s trace-window boundary (ms). */
  const TRACE_WALL_MS = 1_700_000_000_000;

  async function start(flags: string[] = []): Promise<Harness> {
    // The trace writer's wall clock pinned on a 10 s boundary: its own timer then flushes the window no sooner than
    // 10 s after the start, so the window a test reads is the one its requests were counted in (on the real clock
    // a boundary falling mid-test flushed the window early, and the test read an empty one).
    const h = await startHarness(
      PODS,
      flags,
      {
        REDIS_HOST: redis.host,
        REDIS_PORT: String(redis.port),
        AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "true",
      },
      { usageWallNow: () => TRACE_WALL_MS },
    );
    harnesses.push(h);
    await h.server.usage.redis?.whenReady();
    const r = await h.server.usage.gpuProfiles?.refresh();
    expect(r).toMatchObject({ ok: true });
    expect(h.server.usage.gpuProfiles?.get("m1", SLO_DEPLOYMENT)).toBeDefined();
    return h;
  }

  /** Open a stream and send the request; resolves once the body is sent (the decision may still be pending). */
  async function send(h: Harness): Promise<ExtProcStream> {
    const s = h.client.open();
    streams.push(s);
    await s.exchange(headers(SLO));
    s.send(body(chatBody("m1")));
    return s;
  }
  const target = (r: ProcessingResponse | undefined): string | undefined => setHeaders(r)["target-pod"];
  const status = (r: ProcessingResponse | undefined): number | undefined =>
    r?.immediate_response?.status.code;
  const errorHeaders = (r: ProcessingResponse | undefined): Record<string, string> =>
    Object.fromEntries(
      (r?.immediate_response?.headers?.set_headers ?? []).map((o) => [
        o.header.key,
        Buffer.from(o.header.raw_value ?? []).toString("utf8"),
      ]),
    );
  it("routes two, parks the third (seen by traces and metrics) and routes it to the pod freed first", async () => {
    const h = await start();
    const s1 = await send(h);
    const first = target(await s1.next());
    const s2 = await send(h);
    const second = target(await s2.next());
    expect(new Set([first, second])).toEqual(new Set(PODS.map((p) => p.address)));

    const s3 = await send(h);
    await until(() => h.server.headroomQueue.length("m1") === 1);
    expect(s3.pending()).toBe(0);
    expect(await metricValue(h, "kvroute_slo_queue_length", { model: "m1" })).toBe(1);
    expect(await metricValue(h, "kvroute_slo_queue_events_total", { model: "m1", event: "enqueued" })).toBe(
      1,
    );
    // The window is written under the key it got when it opened (the 10 s boundary it closes at).
    const closesAt = h.server.usage.traces?.windowClosesAt() ?? 0;
    await h.server.usage.traces?.flush();
    const trace = JSON.parse((await reader.get(`aibrix:m1_request_trace_${closesAt}`)) ?? "{}");
    expect(trace).toMatchObject({ meta_queueing_reqs: 1, meta_pending_reqs: 2 });

    // The first response completes: its pod is released, and the waiter is decided again onto it.
    await s1.exchange(responseHeaders(200));
    await s1.exchange(responseBody(USAGE, true));
    expect(target(await s3.next())).toBe(first);
    expect(h.server.headroomQueue.length("m1")).toBe(0);
    expect(await metricValue(h, "kvroute_slo_queue_events_total", { model: "m1", event: "dequeued" })).toBe(
      1,
    );
    // The finished request taught the output predictor (it learns with or without tracing).
    expect(h.server.usage.predictor.predict("m1", 10)).toBe(4);
  });

  it("a served-endpoint report that moves a request off its pick frees that pod for the waiter", async () => {
    const h = await start();
    const s1 = await send(h);
    const first = target(await s1.next());
    const s2 = await send(h);
    const second = target(await s2.next());
    const s3 = await send(h);
    await until(() => h.server.headroomQueue.length("m1") === 1);
    // The gateway retried the first request on the second's pod: the first pick's pod has room again.
    const served = {
      filter_metadata: {
        "envoy.lb": { fields: { "x-gateway-destination-endpoint-served": { stringValue: second! } } },
      },
    };
    await s1.exchange({ ...responseHeaders(200), metadata_context: served });
    expect(target(await s3.next())).toBe(first);
    expect(h.server.headroomQueue.length("m1")).toBe(0);
    expect(await metricValue(h, "kvroute_served_endpoint_total", { outcome: "moved" })).toBe(1);
  });

  it("a waiter whose stream is cancelled leaves the queue at once", async () => {
    const h = await start();
    await send(h);
    await send(h);
    const s3 = await send(h);
    await until(() => h.server.headroomQueue.length("m1") === 1);
    s3.cancel();
    await until(() => h.server.headroomQueue.length("m1") === 0);
    await until(() => h.server.extProc.activeStreams() === 2);
    expect(h.server.load.totalRequests()).toBe(2);
    expect(await metricValue(h, "kvroute_slo_queue_events_total", { model: "m1", event: "cancelled" })).toBe(
      1,
    );
  });

  it("answers 503 when no pod has headroom within the maximum wait", async () => {
    const h = await start(["--slo-queue-max-wait-ms", "1"]);
    await (await send(h)).next();
    await (await send(h)).next();
    const r = await (await send(h)).next();
    expect(status(r)).toBe(503);
    expect(errorHeaders(r)).toMatchObject({ "x-error-slo-queue-timeout": "true" });
    expect(Buffer.from(r?.immediate_response?.body ?? []).toString("utf8")).toContain(
      "no pod of model m1 had headroom within 1 ms",
    );
    expect(h.server.headroomQueue.length("m1")).toBe(0);
  });

  it("answers 429 when the model's queue is full", async () => {
    const h = await start(["--slo-queue-max", "0"]);
    await (await send(h)).next();
    await (await send(h)).next();
    const r = await (await send(h)).next();
    expect(status(r)).toBe(429);
    expect(errorHeaders(r)).toMatchObject({ "x-error-slo-queue-full": "true" });
    expect(await metricValue(h, "kvroute_slo_queue_events_total", { model: "m1", event: "rejected" })).toBe(
      1,
    );
  });
});
