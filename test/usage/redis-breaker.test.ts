/**
 * The hang breaker: a Redis that keeps the socket open but stops answering (a real redis-server sent SIGSTOP)
 * takes the connection down on the first command timeout, commands then fail fast without reaching the client, and
 * a probe brings it back once the server answers (SIGCONT). The probe's backoff and the epoch rule are checked in
 * memory with fake timers.
 */
import { createRedisConnection } from "../../src/usage";
import type { RedisConnection } from "../../src/usage";
import { createRedisBreaker } from "../../src/usage/redis-breaker";
import type { RedisBreakerState } from "../../src/usage/redis-breaker";
import { startRedisServer } from "../support/redis-server";
import { within } from "../support/within";
import type { TestRedisServer } from "../support/redis-server";
import { captureLogger, StateWaiter } from "./helpers";

describe("Redis hang breaker against a frozen redis-server", () => {
  let server: TestRedisServer;
  let conn: RedisConnection | undefined;

  beforeAll(async () => {
    server = await startRedisServer();
  });
  afterEach(async () => {
    if (server.running()) server.thaw();
    await conn?.close();
    conn = undefined;
  });
  afterAll(async () => {
    await server.stop();
  });

  it("goes down on the first timeout, skips Redis while hung, and comes back up when it answers", async () => {
    const log = captureLogger();
    const states = new StateWaiter();
    const breaker: RedisBreakerState[] = [];
    conn = createRedisConnection({
      host: server.host,
      port: server.port,
      log,
      timeoutMs: 200,
      maxProbeBackoffMs: 50,
      onStateChange: states.onStateChange,
      onBreakerChange: (s) => breaker.push(s),
    });
    await states.next("up");
    expect(await conn.run((c) => c.set("k", "v"))).toEqual({ ok: true, value: "OK" });

    server.freeze();
    // The socket stays open: the command is sent and waits for its timeout.
    expect(await conn.run((c) => c.get("k"))).toEqual({ ok: false, reason: "timeout" });
    await within(states.next("down"), 5000, "redis down after a command timeout");
    expect(conn.ready()).toBe(false);
    expect(breaker).toEqual(["open"]);

    // Open breaker: the command is not handed to the client at all.
    const fn = jest.fn((c: Parameters<Parameters<RedisConnection["run"]>[0]>[0]) => c.get("k"));
    for (let i = 0; i < 5; i++) expect(await conn.run(fn)).toEqual({ ok: false, reason: "unavailable" });
    expect(fn).not.toHaveBeenCalled();

    server.thaw();
    await within(states.next("up"), 10_000, "redis up after SIGCONT");
    expect(conn.ready()).toBe(true);
    expect(await conn.run((c) => c.get("k"))).toEqual({ ok: true, value: "v" });
    expect(breaker).toEqual(["open", "closed"]);
    // From the first connection on (on a loaded machine the first connect can outlast the 200 ms timeout, which is
    // logged as a down before it): one line per change.
    expect(log.lines.slice(log.lines.indexOf("info redis connection up"))).toEqual([
      "info redis connection up",
      "warn redis connection down",
      "info redis connection up",
    ]);
  });

  it("a pipeline's timed-out command opens the breaker too (pipelines resolve, they do not reject)", async () => {
    const states = new StateWaiter();
    conn = createRedisConnection({
      host: server.host,
      port: server.port,
      log: captureLogger(),
      timeoutMs: 200,
      maxProbeBackoffMs: 50,
      onStateChange: states.onStateChange,
    });
    await states.next("up");
    server.freeze();
    const res = await conn.run((c) => c.pipeline().incrby("n", 1).expire("n", 60).exec());
    expect(res.ok).toBe(true);
    await within(states.next("down"), 5000, "redis down after a pipeline timeout");
    expect(conn.ready()).toBe(false);
    server.thaw();
    await within(states.next("up"), 10_000, "redis up after SIGCONT");
  });
});

describe("breaker probe and epochs (in memory)", () => {
  beforeEach(() => jest.useFakeTimers());
  afterEach(() => jest.useRealTimers());

  it("probes with doubling backoff up to the cap and closes on the first answer", async () => {
    const probeAt: number[] = [];
    let answer = false;
    const states: RedisBreakerState[] = [];
    const b = createRedisBreaker({
      minBackoffMs: 50,
      maxBackoffMs: 150,
      probe: () => {
        probeAt.push(Date.now());
        return Promise.resolve(answer);
      },
      onChange: (s) => states.push(s),
    });
    const t0 = Date.now();
    b.timedOut(b.epoch());
    expect(b.state()).toBe("open");
    await jest.advanceTimersByTimeAsync(50 + 100 + 150 + 150);
    expect(probeAt.map((t) => t - t0)).toEqual([50, 150, 300, 450]);
    answer = true;
    await jest.advanceTimersByTimeAsync(150);
    expect(b.state()).toBe("closed");
    expect(states).toEqual(["open", "closed"]);
    // Closed: no more probes.
    await jest.advanceTimersByTimeAsync(10_000);
    expect(probeAt).toHaveLength(5);
  });

  it("ignores a timeout of a command sent before the breaker last closed", async () => {
    const b = createRedisBreaker({
      minBackoffMs: 10,
      probe: () => Promise.resolve(true),
      onChange: () => undefined,
    });
    const sentEarly = b.epoch();
    b.timedOut(sentEarly);
    await jest.advanceTimersByTimeAsync(10);
    expect(b.state()).toBe("closed");
    // A second command of the same (old) epoch times out late: the outage it reports is over.
    b.timedOut(sentEarly);
    expect(b.state()).toBe("closed");
    b.timedOut(b.epoch());
    expect(b.state()).toBe("open");
  });

  it("reset closes at once and stops probing; pause keeps the state and stops probing", async () => {
    const probe = jest.fn(() => Promise.resolve(false));
    const b = createRedisBreaker({ minBackoffMs: 10, probe, onChange: () => undefined });
    b.timedOut(b.epoch());
    b.pause();
    await jest.advanceTimersByTimeAsync(1000);
    expect(probe).not.toHaveBeenCalled();
    expect(b.state()).toBe("open");
    b.reset();
    expect(b.state()).toBe("closed");
    await jest.advanceTimersByTimeAsync(1000);
    expect(probe).not.toHaveBeenCalled();
  });
});
