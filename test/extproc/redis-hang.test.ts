/**
 * Fault test: Redis hangs (a real redis-server sent SIGSTOP: connections stay open, nothing answers) under requests
 * with a `user` header. kvroute's breaker takes Redis out (`kvroute_redis_up 0`), requests are then answered
 * without any command reaching the Redis client (fail-open, counted), and once the server answers again (SIGCONT)
 * the breaker closes and the limits apply again. No wall-clock thresholds: the breaker state is read before
 * sending, and Redis calls are counted on the client.
 */
import type Redis from "ioredis";
import type { ProcessingResponse } from "../../src/extproc/messages";
import { RATE_WINDOW_BINS } from "../../src/usage/rate-window";
import type { TestRedisServer } from "../support/redis-server";
import { within } from "../support/within";
import { CHAT_HEADERS, body, chatBody, headers, pod, setHeaders } from "./harness";
import type { Harness } from "./harness";
import { startRedisHarness } from "./redis-harness";
import type { RedisHarness } from "./redis-harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];

describe("Redis hang: breaker, fail-open and recovery", () => {
  let rh: RedisHarness;
  let redis: TestRedisServer;
  let h: Harness;
  let reader: Redis;

  beforeAll(async () => {
    rh = await startRedisHarness(PODS);
    ({ redis, h, reader } = rh);
  });
  afterAll(async () => {
    if (redis.running()) redis.thaw();
    await rh.close();
  });

  /** The reply to headers + body: an immediate response (limit) or the routing decision. */
  async function send(user: string): Promise<ProcessingResponse | undefined> {
    const s = h.client.open();
    const [hr] = await s.exchange(headers({ ...CHAT_HEADERS, user }));
    const reply = hr?.immediate_response ? hr : (await s.exchange(body(chatBody("m1"))))[0];
    s.end();
    await s.status;
    return reply;
  }

  const outcome = (r: ProcessingResponse | undefined): string =>
    r?.immediate_response
      ? `status ${String(r.immediate_response.status.code)}`
      : `routed ${setHeaders(r)["target-pod"]}`;

  async function metric(name: string): Promise<string> {
    const text = await (await fetch(`http://127.0.0.1:${h.server.httpPort}/metrics`)).text();
    return text
      .split("\n")
      .filter((l) => l.startsWith(name))
      .join("\n");
  }

  /** The first log line with this message written after this call. */
  function nextLog(msg: string): Promise<Record<string, unknown>> {
    const earlier = new Set(h.log.lines.filter((l) => l["msg"] === msg));
    return h.log.waitFor((l) => l["msg"] === msg && !earlier.has(l));
  }

  /** The breaker transitions counted so far into `state`. */
  async function breakerTransitions(state: "open" | "closed"): Promise<number> {
    const m = await h.server.metrics.redisBreakerTransitions.get();
    return m.values.find((v) => v.labels["state"] === state)?.value ?? 0;
  }

  it("answers users without waiting on a hung Redis, reports it down, and limits again after it answers", async () => {
    // alice is limited to 1 request a minute and has used 1000 in every bin; bob has no record.
    await reader.set("aibrix-users/alice", JSON.stringify({ name: "alice", rpm: 1, tpm: 0 }));
    const p = reader.pipeline();
    for (let bin = 0; bin < RATE_WINDOW_BINS; bin++) p.set(`aibrix:alice_RPM_CURRENT:${bin}`, "1000");
    await p.exec();
    expect(outcome(await send("alice"))).toBe("status 429");
    expect(outcome(await send("bob"))).toBe("status 403");
    expect(await metric("kvroute_redis_up")).toBe("kvroute_redis_up 1");

    const opened = await breakerTransitions("open");
    const wentDown = nextLog("redis connection down");
    redis.freeze();
    // No request needed: the replica-load sync's next command times out and opens the breaker.
    const down = await within(wentDown, 15_000, "redis down after SIGSTOP");
    expect(down["reason"]).toBe("timeout");
    expect(await metric("kvroute_redis_up")).toBe("kvroute_redis_up 0");
    expect(await breakerTransitions("open")).toBe(opened + 1);

    // Count every command handed to the Redis client while users are served (the breaker's PING probes aside).
    const client = h.server.usage.redis?.client;
    if (client === undefined) throw new Error("no redis client");
    const sent: string[] = [];
    const original = client.sendCommand.bind(client);
    const spy = jest.spyOn(client, "sendCommand").mockImplementation((command, stream) => {
      sent.push(command.name);
      return original(command, stream);
    });
    const uncheckedBefore = (await h.server.metrics.userLimitChecks.get()).values.find(
      (v) => v.labels["outcome"] === "unavailable",
    )?.value;
    try {
      expect(outcome(await send("alice"))).toMatch(/^routed 10\.0\.0\.[12]:8000$/);
      expect(outcome(await send("bob"))).toMatch(/^routed 10\.0\.0\.[12]:8000$/);
    } finally {
      spy.mockRestore();
    }
    expect(sent.filter((name) => name !== "ping")).toEqual([]);
    const uncheckedAfter = (await h.server.metrics.userLimitChecks.get()).values.find(
      (v) => v.labels["outcome"] === "unavailable",
    )?.value;
    expect(uncheckedAfter).toBe((uncheckedBefore ?? 0) + 2);

    const closed = await breakerTransitions("closed");
    const cameUp = nextLog("redis connection up");
    redis.thaw();
    await within(cameUp, 15_000, "redis up after SIGCONT");
    expect(await metric("kvroute_redis_up")).toBe("kvroute_redis_up 1");
    expect(await breakerTransitions("closed")).toBe(closed + 1);
    // Both transitions are on the admin server's /metrics.
    expect(await metric("kvroute_redis_breaker_transitions_total")).toMatch(/\{state="open"\} [1-9]/);
    expect(outcome(await send("alice"))).toBe("status 429");
    expect(outcome(await send("bob"))).toBe("status 403");
  }, 60_000);
});
