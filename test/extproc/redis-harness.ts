/**
 * The set-up the Redis-backed ext_proc tests share: a private redis-server, kvroute pointed at it (its Redis
 * connection ready before the first test), and a plain ioredis client through which a test seeds and reads keys.
 */
import Redis from "ioredis";
import type { Pod } from "../../src/cluster/pod";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { startHarness } from "./harness";
import type { Harness } from "./harness";

/** kvroute on a real Redis, and a client of that Redis. */
export interface RedisHarness {
  readonly redis: TestRedisServer;
  readonly h: Harness;
  /** A separate client of the same Redis (one retry per command: a test against a stopped server fails fast). */
  readonly reader: Redis;
  /** Disconnects the reader, drains kvroute, stops the server. */
  close(): Promise<void>;
}

/** Start redis-server, then kvroute with `REDIS_HOST`/`REDIS_PORT` (plus `env`), and wait for its connection. */
export async function startRedisHarness(
  pods: readonly Pod[],
  flags: readonly string[] = [],
  env: Record<string, string> = {},
  options: Parameters<typeof startHarness>[3] = {},
): Promise<RedisHarness> {
  const redis = await startRedisServer();
  const h = await startHarness(
    pods,
    flags,
    { REDIS_HOST: redis.host, REDIS_PORT: String(redis.port), ...env },
    options,
  );
  const reader = new Redis({ host: redis.host, port: redis.port, maxRetriesPerRequest: 1 });
  await h.server.usage.redis?.whenReady();
  return {
    redis,
    h,
    reader,
    async close() {
      reader.disconnect();
      await h.close();
      await redis.stop();
    },
  };
}
