/**
 * A stream cancelled while its per-user admission check waits on a hung Redis (a real redis-server sent SIGSTOP):
 * the stream ends at once with no reply, nothing is routed or reserved, and when Redis answers again the late answer
 * is ignored — the check is counted as `cancelled` and nothing is counted against the user's RPM. ioredis cannot
 * abort the command in flight; the signal makes its result go nowhere.
 */
import * as grpc from "@grpc/grpc-js";
import Redis from "ioredis";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { CHAT_HEADERS, body, chatBody, headers, pod, startHarness } from "./harness";
import type { Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];

describe("cancel during admission", () => {
  let redis: TestRedisServer;
  let h: Harness;
  let reader: Redis;

  beforeAll(async () => {
    redis = await startRedisServer();
    h = await startHarness(PODS, [], { REDIS_HOST: redis.host, REDIS_PORT: String(redis.port) });
    reader = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
    await h.server.usage.redis?.whenReady();
  });
  afterAll(async () => {
    if (redis.running()) redis.thaw();
    reader.disconnect();
    await h.close();
    await redis.stop();
  });

  async function checks(outcome: string): Promise<number> {
    const m = await h.server.metrics.userLimitChecks.get();
    return m.values.find((v) => v.labels["outcome"] === outcome)?.value ?? 0;
  }

  it("a stream cancelled while Redis hangs is not routed, reserves nothing, and its late answer counts nothing", async () => {
    await reader.set("aibrix-users/carol", JSON.stringify({ name: "carol", rpm: 10, tpm: 0 }));
    const client = h.server.usage.redis?.client;
    if (client === undefined) throw new Error("no redis client");
    // The record's GET handed to the Redis client: from then on the check waits on Redis.
    let sent!: () => void;
    const lookupSent = new Promise<void>((resolve) => (sent = resolve));
    const original = client.sendCommand.bind(client);
    const spy = jest.spyOn(client, "sendCommand").mockImplementation((command, stream) => {
      if (command.name === "get") sent();
      return original(command, stream);
    });
    const allowedBefore = await checks("allowed");
    redis.freeze();
    try {
      const s = h.client.open();
      await s.exchange(headers({ ...CHAT_HEADERS, user: "carol" })); // answered at once; the check runs meanwhile
      await lookupSent;
      s.send(body(chatBody("m1")));
      const idle = h.server.extProc.idle();
      s.cancel();
      expect((await s.status).code).toBe(grpc.status.CANCELLED);
      await idle; // the server ended the stream without waiting for Redis
      expect(s.pending()).toBe(0);
      expect(h.server.load.totalRequests()).toBe(0);
    } finally {
      spy.mockRestore();
      redis.thaw();
    }
    // The late answer: counted as cancelled, never as allowed, and no request counted against carol's RPM.
    while ((await checks("cancelled")) === 0) await new Promise((resolve) => setImmediate(resolve));
    expect(await checks("allowed")).toBe(allowedBefore);
    expect(await reader.keys("aibrix:carol_RPM*")).toEqual([]);
    expect(h.server.load.totalRequests()).toBe(0);
  }, 30_000);
});
