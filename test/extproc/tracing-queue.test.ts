/**
 * A traced request that waited in the headroom queue (SLO strategies, real redis-server for the GPU profile) has a
 * `kvroute.queue` span, before the pick that routed it when a release made room; one that timed out there is traced
 * with the 503 it was answered with.
 */
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { startOtlpReceiver } from "../support/otlp-receiver";
import type { OtlpReceiver, ReceivedSpan } from "../support/otlp-receiver";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  responseBody,
  responseHeaders,
  startHarness,
} from "./harness";
import { SLO_PODS, SLO_PROFILE, SLO_PROFILE_KEY, until } from "./slo-fleet";
import type { ExtProcStream, Harness } from "./harness";

describe("tracing the headroom queue", () => {
  let redis: TestRedisServer;
  let receiver: OtlpReceiver;
  const harnesses: Harness[] = [];
  const streams: ExtProcStream[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    const writer = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
    await writer.set(SLO_PROFILE_KEY, JSON.stringify(SLO_PROFILE));
    writer.disconnect();
    receiver = await startOtlpReceiver();
  });
  afterAll(async () => {
    for (const s of streams) s.cancel();
    for (const h of harnesses) await h.close();
    await receiver.close();
    await redis.stop();
  });

  async function start(flags: string[] = []): Promise<Harness> {
    const h = await startHarness(
      SLO_PODS,
      ["--otlp-endpoint", receiver.url, "--log-level", "info", ...flags],
      { REDIS_HOST: redis.host, REDIS_PORT: String(redis.port) },
      { traceBatch: { scheduledDelayMs: 10, exportTimeoutMs: 10_000 } },
    );
    harnesses.push(h);
    await h.server.usage.redis?.whenReady();
    expect(await h.server.usage.gpuProfiles?.refresh()).toMatchObject({ ok: true });
    return h;
  }

  /** Send an SLO request on a new stream; the stream once the body is sent (the decision may still be pending). */
  async function send(h: Harness, traceparent?: string): Promise<ExtProcStream> {
    const s = h.client.open();
    streams.push(s);
    await s.exchange(
      headers({ ...CHAT_HEADERS, "routing-strategy": "slo", ...(traceparent ? { traceparent } : {}) }),
    );
    s.send(body(chatBody("m1")));
    return s;
  }

  const newTrace = (): { traceId: string; traceparent: string } => {
    const traceId = randomBytes(16).toString("hex");
    return { traceId, traceparent: `00-${traceId}-${randomBytes(8).toString("hex")}-01` };
  };

  /** The spans of `traceId` once its root has arrived. */
  async function traceOf(traceId: string): Promise<ReceivedSpan[]> {
    const spans = await receiver.waitFor((all) =>
      all.some((s) => s.traceId === traceId && s.name === "kvroute.request"),
    );
    return spans.filter((s) => s.traceId === traceId);
  }

  it("a request that waited until a release made room has a queue span, then its pick", async () => {
    const h = await start();
    const s1 = await send(h);
    await s1.next();
    await (await send(h)).next();
    const t = newTrace();
    const s3 = await send(h, t.traceparent);
    // Waiting for the event, not for time: the queue holds it.
    await until(() => h.server.headroomQueue.length("m1") === 1);
    await s1.exchange(responseHeaders(200));
    await s1.exchange(responseBody("{}", true));
    await s3.next();
    await s3.exchange(responseHeaders(200));
    await s3.exchange(responseBody("{}", true));
    s3.end();
    const mine = await traceOf(t.traceId);
    const root = mine.find((s) => s.name === "kvroute.request")!;
    expect(root.attributes).toMatchObject({ "kvroute.outcome": "success", "kvroute.strategy": "slo" });
    const queue = mine.find((s) => s.name === "kvroute.queue")!;
    const pick = mine.find((s) => s.name === "kvroute.pick")!;
    expect(queue.parentSpanId).toBe(root.spanId);
    expect(queue.statusCode).toBe(0);
    // The pick that stood is the one the release woke: it ran while the request was leaving the queue.
    expect(pick.startNs).toBeGreaterThanOrEqual(queue.startNs);
    expect(pick.endNs).toBeLessThanOrEqual(queue.endNs);
  });

  it("a request that timed out waiting has a queue span and its 503", async () => {
    const h = await start(["--slo-queue-max-wait-ms", "1"]);
    await (await send(h)).next();
    await (await send(h)).next();
    const t = newTrace();
    await (await send(h, t.traceparent)).next();
    const mine = await traceOf(t.traceId);
    const root = mine.find((s) => s.name === "kvroute.request")!;
    expect(root.attributes).toMatchObject({
      "kvroute.outcome": "rejected",
      "http.response.status_code": 503,
      "kvroute.model": "m1",
    });
    expect(root.statusCode).toBe(2); // ERROR
    const queue = mine.find((s: ReceivedSpan) => s.name === "kvroute.queue");
    expect(queue?.parentSpanId).toBe(root.spanId);
    expect(queue!.endNs).toBeGreaterThanOrEqual(queue!.startNs);
  });
});
