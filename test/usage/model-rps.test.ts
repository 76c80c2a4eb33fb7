/**
 * Per-model RPS windows against a real, private redis-server: AIBrix's key and TTL (read back with a second client),
 * the limit comparison, rollback into the bin that was counted, window rollover on an injected clock, and fail-open
 * through an outage.
 */
import Redis from "ioredis";
import { createRedisConnection } from "../../src/usage";
import type { RedisConnection } from "../../src/usage";
import { createModelRpsLimiter, type ModelRpsOutcome } from "../../src/usage/model-rps";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { captureLogger } from "./helpers";

/** unix 1700000000: bin 1700000000 % 64 = 0. */
const T0 = 1_700_000_000_000;

describe("model RPS limiter (real Redis)", () => {
  let server: TestRedisServer;
  let admin: Redis;
  let conn: RedisConnection | undefined;
  let clock = T0;
  const outcomes: ModelRpsOutcome[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
  });
  beforeEach(async () => {
    admin = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
    await admin.flushall();
    clock = T0;
    outcomes.length = 0;
    conn = createRedisConnection({
      host: server.host,
      port: server.port,
      log: captureLogger(),
      maxBackoffMs: 50,
    });
    await conn.whenReady();
  });
  afterEach(async () => {
    await conn?.close();
    conn = undefined;
    admin.disconnect();
  });
  afterAll(async () => {
    await server.stop();
  });

  const limiter = () =>
    createModelRpsLimiter({ redis: conn!, nowMs: () => clock, onCheck: (o) => outcomes.push(o) });

  it("counts under aibrix_model:<model>_MODEL_RPS_CURRENT:<bin> with a 1 s TTL; over the limit is exceeded", async () => {
    const l = limiter();
    const key = "aibrix_model:llama_MODEL_RPS_CURRENT:0";
    expect(l.window.keyFor("llama_MODEL_RPS_CURRENT", clock)).toBe(key);
    expect((await l.admit("llama", 2)).t).toBe("allowed");
    expect((await l.admit("llama", 2)).t).toBe("allowed");
    expect((await l.admit("llama", 2)).t).toBe("exceeded");
    expect(await admin.get(key)).toBe("3");
    expect(await admin.pttl(key)).toBeGreaterThan(0);
    expect(await admin.pttl(key)).toBeLessThanOrEqual(1000);
    expect(outcomes).toEqual(["allowed", "allowed", "exceeded"]);
  });

  it("a new second is a new bin", async () => {
    const l = limiter();
    expect((await l.admit("m", 1)).t).toBe("allowed");
    expect((await l.admit("m", 1)).t).toBe("exceeded");
    clock += 1000;
    expect((await l.admit("m", 1)).t).toBe("allowed");
  });

  it("rolls back once, into the bin it counted even after the second turned", async () => {
    const l = limiter();
    const first = await l.admit("m", 5);
    if (first.t !== "allowed") throw new Error("expected allowed");
    clock += 1000;
    first.rollback();
    first.rollback();
    // The decrement is fire-and-forget; a later command on the same connection runs after it.
    await l.admit("other", 5);
    expect(await admin.get("aibrix_model:m_MODEL_RPS_CURRENT:0")).toBe("0");
    expect(await admin.get("aibrix_model:m_MODEL_RPS_CURRENT:1")).toBeNull();
  });

  it("fails open while Redis is down", async () => {
    const l = limiter();
    await server.kill();
    try {
      expect((await l.admit("m", 1)).t).toBe("unavailable");
      expect(outcomes).toEqual(["unavailable"]);
    } finally {
      await server.restart();
    }
  });
});
