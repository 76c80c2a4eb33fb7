/**
 * Two kvroute replicas sharing one real redis-server: each sees the requests the other has in flight on a pod
 * (AIBrix's `aibrix:pod:<gateway>:<ns>:<pod>` hashes), so least-request avoids a pod the other replica loaded.
 */
import Redis from "ioredis";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { pod, startHarness } from "./harness";
import { decide, targetOf } from "./request-phase";
import type { ExtProcStream, Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];

describe("replica load sync", () => {
  let redis: TestRedisServer;
  let a: Harness;
  let b: Harness;
  const held: ExtProcStream[] = [];

  beforeAll(async () => {
    redis = await startRedisServer();
    const env = (name: string): Record<string, string> => ({
      REDIS_HOST: redis.host,
      REDIS_PORT: String(redis.port),
      POD_NAME: name,
    });
    a = await startHarness(PODS, [], env("gw-a"));
    b = await startHarness(PODS, [], env("gw-b"));
    await Promise.all([a.server.usage.redis?.whenReady(), b.server.usage.redis?.whenReady()]);
  });
  afterAll(async () => {
    for (const s of held) s.cancel();
    await a.close();
    await b.close();
    await redis.stop();
  });

  async function route(h: Harness, extra: Record<string, string> = {}): Promise<string> {
    const s = h.client.open();
    held.push(s);
    return targetOf(await decide(s, { headers: extra }));
  }

  it("publishes AIBrix-format hashes and routes around the other replica's load", async () => {
    // Replica A pins three requests on p1 (session affinity to p1's address).
    const sticky = {
      "routing-strategy": "session-affinity",
      "x-session-id": Buffer.from(PODS[0]!.address).toString("base64"),
    };
    for (let i = 0; i < 3; i++) expect(await route(a, sticky)).toBe(PODS[0]?.address);
    await a.server.usage.replicaLoad?.tick();
    await b.server.usage.replicaLoad?.tick();

    const reader = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
    try {
      const hash = await reader.hgetall("aibrix:pod:gw-a:default:p1");
      expect(hash).toMatchObject({
        gateway_instance_id: "gw-a",
        pod_name: "p1",
        namespace: "default",
        requests_running: "3",
      });
      expect(hash["update_time"]).toMatch(/^\d\d:\d\d:\d\d\.\d{3}$/);
      const ttl = await reader.pttl("aibrix:pod:gw-a:default:p1");
      expect(ttl).toBeGreaterThan(0);
      expect(ttl).toBeLessThanOrEqual(500);
    } finally {
      reader.disconnect();
    }
    expect(b.server.usage.replicaLoad?.remote("default/p1")).toBe(3);
    // B has nothing in flight itself; without A's numbers p1 and p2 would tie. Two decisions: both avoid p1.
    expect(await route(b)).toBe(PODS[1]?.address);
    expect(await route(b)).toBe(PODS[1]?.address);
  });

  it("a Redis outage empties the remote view and routing goes on", async () => {
    await redis.kill();
    await b.server.usage.replicaLoad?.tick();
    expect(b.server.usage.replicaLoad?.remote("default/p1")).toBe(0);
    expect(await route(b)).toMatch(/^10\.0\.0\.[12]:8000$/);
    await redis.restart();
  });
});
