/**
 * The outage-safe Redis connection against a real, private redis-server: readiness, fail-fast during an
 * outage (mapped reasons, no hang), reconnection, one log line per transition.
 */
import { createRedisConnection, mapRedisError } from "../../src/usage";
import type { RedisConnection } from "../../src/usage";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { captureLogger, StateWaiter } from "./helpers";

describe("createRedisConnection", () => {
  let server: TestRedisServer;
  let conn: RedisConnection | undefined;

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    await conn?.close();
    conn = undefined;
  });
  afterAll(async () => {
    await server.stop();
  });

  it("becomes ready and runs commands", async () => {
    const log = captureLogger();
    conn = createRedisConnection({ host: server.host, port: server.port, log });
    await conn.whenReady();
    expect(conn.ready()).toBe(true);
    const res = await conn.run((c) => c.set("k", "v"));
    expect(res).toEqual({ ok: true, value: "OK" });
    expect(log.lines).toEqual(["info redis connection up"]);
  });

  it("accepts a redis:// URL", async () => {
    conn = createRedisConnection({
      host: "",
      port: 0,
      url: `redis://${server.host}:${server.port}/0`,
      log: captureLogger(),
    });
    await conn.whenReady();
    expect(await conn.run((c) => c.ping())).toEqual({ ok: true, value: "PONG" });
  });

  it("fails fast while Redis is down and recovers when it returns", async () => {
    const log = captureLogger();
    const states = new StateWaiter();
    conn = createRedisConnection({
      host: server.host,
      port: server.port,
      log,
      maxBackoffMs: 50,
      onStateChange: states.onStateChange,
    });
    await states.next("up");

    await server.kill();
    await states.next("down");
    expect(conn.ready()).toBe(false);
    // Several failed commands: each returns at once with a mapped reason, and none logs.
    for (let i = 0; i < 3; i++) {
      expect(await conn.run((c) => c.get("k"))).toEqual({ ok: false, reason: "unavailable" });
    }
    // A command issued on the raw client is rejected, not queued (enableOfflineQueue: false).
    await expect(conn.client.get("k")).rejects.toThrow();

    await server.restart();
    await states.next("up");
    expect(await conn.run((c) => c.ping())).toEqual({ ok: true, value: "PONG" });
    expect(log.lines).toEqual([
      "info redis connection up",
      "warn redis connection down",
      "info redis connection up",
    ]);
  });

  it("rejects whenReady after close and close is idempotent", async () => {
    conn = createRedisConnection({ host: server.host, port: server.port, log: captureLogger() });
    await conn.whenReady();
    await conn.close();
    await conn.close();
    await expect(conn.whenReady()).rejects.toThrow("closed");
    expect(await conn.run((c) => c.ping())).toEqual({ ok: false, reason: "unavailable" });
  });

  it.each([
    [new Error("Command timed out"), "timeout"],
    [new Error("connect ETIMEDOUT"), "timeout"],
    [new Error("Stream isn't writeable and enableOfflineQueue options is false"), "unavailable"],
    [new Error("Connection is closed."), "unavailable"],
    [new Error("connect ECONNREFUSED 127.0.0.1:1"), "unavailable"],
    [new Error("WRONGTYPE Operation against a key holding the wrong kind of value"), "error"],
    ["weird", "error"],
  ])("maps %p to %s", (err, reason) => {
    expect(mapRedisError(err)).toBe(reason);
  });
});
