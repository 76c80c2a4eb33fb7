/**
 * End to end with a real redis-server: finished requests become AIBrix request-trace keys; a Redis outage never
 * stops routing, and traces resume when Redis returns.
 */
import Redis from "ioredis";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
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
import type { Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];
const USAGE = '{"usage":{"prompt_tokens":1000,"completion_tokens":128,"total_tokens":1128}}';

describe("request traces in Redis", () => {
  let redis: TestRedisServer;
  let h: Harness;
  let reader: Redis;

  beforeAll(async () => {
    redis = await startRedisServer();
    h = await startHarness(PODS, [], {
      REDIS_HOST: redis.host,
      REDIS_PORT: String(redis.port),
      AIBRIX_GPU_OPTIMIZER_TRACING_FLAG: "true",
    });
    reader = new Redis({ host: redis.host, port: redis.port, lazyConnect: true, maxRetriesPerRequest: 1 });
    await h.server.usage.redis?.whenReady();
  });
  afterAll(async () => {
    reader.disconnect();
    await h.close();
    await redis.stop();
  });

  async function conversation(): Promise<string> {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    const [r] = await s.exchange(body(chatBody("m1")));
    await s.exchange(responseHeaders(200));
    await s.exchange(responseBody(USAGE, true));
    s.end();
    await s.status;
    return setHeaders(r)["target-pod"] ?? "";
  }

  it("writes the model's trace window with AIBrix's key, JSON and TTL", async () => {
    await conversation();
    await conversation();
    // The window's key was fixed when it opened: the 10 s boundary it is due to close at.
    const closesAt = h.server.usage.traces?.windowClosesAt() ?? 0;
    const result = await h.server.usage.traces?.flush();
    expect(result?.failure).toBeUndefined();
    const key = `aibrix:m1_request_trace_${closesAt}`;
    await reader.connect();
    // log2(1000)=9.97 → 100, log2(128)=7 → 70, precision 0.1.
    expect(await reader.get(key)).toBe(
      '{"100:70":2,"meta_interval_sec":10,"meta_pending_reqs":0,"meta_precision":10,"meta_queueing_reqs":0,"meta_total_reqs":2,"meta_v":4}',
    );
    const ttl = await reader.ttl(key);
    expect(ttl).toBeGreaterThan(590);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  /** One sample of kvroute's own /metrics registry. */
  async function metric(name: string, labels: Record<string, string> = {}): Promise<number> {
    const m = await h.server.metrics.registry.getSingleMetric(name)?.get();
    const v = m?.values.find((x) => Object.entries(labels).every(([k, want]) => x.labels[k] === want));
    return v?.value ?? 0;
  }

  it("routing goes on while Redis is down, counted, and the traces are written when it returns", async () => {
    expect(await metric("kvroute_redis_up")).toBe(1);
    const downBefore = await metric("kvroute_redis_transitions_total", { state: "down" });
    const deferredBefore = await metric("kvroute_request_trace_flushes_total", { result: "deferred" });
    const wentDown = new Promise<void>((resolve) =>
      h.server.usage.redis?.client.once("close", () => resolve()),
    );
    await redis.kill();
    await wentDown;
    expect(await conversation()).toMatch(/^10\.0\.0\.[12]:8000$/);
    const closesAt = h.server.usage.traces?.windowClosesAt() ?? 0;
    const failed = await h.server.usage.traces?.flush();
    expect(failed?.failure).toBeDefined();
    expect(await metric("kvroute_redis_up")).toBe(0);
    expect(await metric("kvroute_redis_transitions_total", { state: "down" })).toBe(downBefore + 1);
    expect(await metric("kvroute_request_trace_flushes_total", { result: "deferred" })).toBe(
      deferredBefore + 1,
    );
    await redis.restart();
    await h.server.usage.redis?.whenReady();
    expect(await metric("kvroute_redis_up")).toBe(1);
    const retried = await h.server.usage.traces?.flush();
    expect(retried?.failure).toBeUndefined();
    const key = `aibrix:m1_request_trace_${closesAt}`;
    expect(JSON.parse((await reader.get(key)) ?? "{}")).toMatchObject({ "100:70": 1, meta_total_reqs: 1 });
  });
});
