/**
 * A traced request that waited in the headroom queue (SLO strategies, real redis-server for the GPU profile) has a
 * `kvroute.queue` span; one that timed out there is traced with the 503 it was answered with.
 */
import { randomBytes } from "node:crypto";
import Redis from "ioredis";
import type { Pod } from "../../src/cluster/pod";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { startOtlpReceiver } from "../support/otlp-receiver";
import type { OtlpReceiver, ReceivedSpan } from "../support/otlp-receiver";
import { CHAT_HEADERS, body, chatBody, headers, pod, startHarness } from "./harness";
import type { ExtProcStream, Harness } from "./harness";

const DEPLOYMENT = "gpu-a";
const PODS: Pod[] = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])].map((p) => ({
  ...p,
  labels: { ...p.labels, "app.kubernetes.io/name": DEPLOYMENT },
}));
/** One request consumes a whole pod: two route, the third waits. */
const PROFILE = { gpu: DEPLOYMENT, cost: 1, tputs: [[1]], indexes: [[1], [1]], created: 1, e2e: [[1]] };

describe("tracing the headroom queue", () => {
  let redis: TestRedisServer;
  let receiver: OtlpReceiver;
  let h: Harness;
  const streams: ExtProcStream[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    const writer = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
    await writer.set(`aibrix:profile_m1_${DEPLOYMENT}`, JSON.stringify(PROFILE));
    writer.disconnect();
    receiver = await startOtlpReceiver();
    h = await startHarness(
      PODS,
      ["--otlp-endpoint", receiver.url, "--slo-queue-max-wait-ms", "1", "--log-level", "info"],
      { REDIS_HOST: redis.host, REDIS_PORT: String(redis.port) },
      { traceBatch: { scheduledDelayMs: 10, exportTimeoutMs: 10_000 } },
    );
    await h.server.usage.redis?.whenReady();
    expect(await h.server.usage.gpuProfiles?.refresh()).toMatchObject({ ok: true });
  });
  afterAll(async () => {
    for (const s of streams) s.cancel();
    await h.close();
    await receiver.close();
    await redis.stop();
  });

  /** Send an SLO request; resolves with its decision reply. */
  async function send(traceparent?: string): Promise<void> {
    const s = h.client.open();
    streams.push(s);
    await s.exchange(
      headers({ ...CHAT_HEADERS, "routing-strategy": "slo", ...(traceparent ? { traceparent } : {}) }),
    );
    await s.exchange(body(chatBody("m1")));
  }

  it("a request that timed out waiting has a queue span and its 503", async () => {
    await send();
    await send();
    const traceId = randomBytes(16).toString("hex");
    await send(`00-${traceId}-${randomBytes(8).toString("hex")}-01`);
    const spans = await receiver.waitFor((all) =>
      all.some((s) => s.traceId === traceId && s.name === "kvroute.request"),
    );
    const mine = spans.filter((s) => s.traceId === traceId);
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
