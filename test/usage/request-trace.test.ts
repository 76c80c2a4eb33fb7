/**
 * Request trace (AIBrix `pkg/cache/trace.go`): bucket indexes, byte-exact JSON (Go `json.Marshal` of a
 * `map[string]int`: byte-wise sorted keys, no whitespace), key names, TTL, window alignment, and the outage
 * backlog, against a real, private redis-server.
 */
import {
  createRedisConnection,
  requestTraceJson,
  requestTraceKey,
  RequestTraceWriter,
  traceBucketIndex,
  traceBucketKey,
} from "../../src/usage";
import type { RedisConnection, TraceRedis } from "../../src/usage";
import type Redis from "ioredis";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { captureLogger, StateWaiter } from "./helpers";

/** 2026-11-25T12:00:00Z and neighbours, in unix seconds. */
const T12_00_00 = 1795608000;
const T12_00_07 = 1795608007;
const T12_00_19 = 1795608019;
/** Writers of the flush tests open their first window here, so it is the one that closes at 12:00:00. */
const OPENED_MS = (T12_00_00 - 3) * 1000;

describe("trace buckets (pure)", () => {
  it.each([
    // Examples worked from AIBrix's `pkg/cache/trace.go` formula.
    [1000, 100],
    [1024, 100],
    [128, 70],
    [3, 16],
    [10, 33],
    // tokens <= 0 map to 0; log2(1) = 0.
    [0, 0],
    [-5, 0],
    [1, 0],
    [2, 10],
    // Parity quirk of int64(round(x/0.1)*0.1/0.1): 43*0.1/0.1 = 42.99999999999999, truncated to 42 in Go too.
    [20, 42],
    [1048576, 200],
  ])("tokens %d -> index %d", (tokens, idx) => {
    expect(traceBucketIndex(tokens)).toBe(idx);
  });

  it("forms the bucket key as <in>:<out>", () => {
    expect(traceBucketKey(1000, 128)).toBe("100:70");
    expect(traceBucketKey(0, 3)).toBe("0:16");
  });

  it("forms the Redis key with roundT = unix - unix%10", () => {
    expect(requestTraceKey("llama-3-8b", T12_00_07)).toBe("aibrix:llama-3-8b_request_trace_1795608000");
    expect(requestTraceKey("m", T12_00_00)).toBe("aibrix:m_request_trace_1795608000");
    expect(requestTraceKey("m", T12_00_19)).toBe("aibrix:m_request_trace_1795608010");
  });

  it("serialises like Go json.Marshal(map[string]int)", () => {
    const json = requestTraceJson({
      buckets: new Map([
        ["16:33", 1],
        ["100:70", 2],
        ["0:100", 1],
      ]),
      totalReqs: 5,
      pendingReqs: 2,
      queueingReqs: 3,
    });
    expect(json).toBe(
      '{"0:100":1,"100:70":2,"16:33":1,"meta_interval_sec":10,"meta_pending_reqs":2,"meta_precision":10,' +
        '"meta_queueing_reqs":3,"meta_total_reqs":5,"meta_v":4}',
    );
  });

  it("emits only meta fields for a window with no finished request", () => {
    expect(requestTraceJson({ buckets: new Map(), totalReqs: 1, pendingReqs: 1, queueingReqs: 0 })).toBe(
      '{"meta_interval_sec":10,"meta_pending_reqs":1,"meta_precision":10,"meta_queueing_reqs":0,"meta_total_reqs":1,"meta_v":4}',
    );
  });
});

describe("window keys (in memory, injected time)", () => {
  /** A Redis stand-in keeping what SET wrote: a second SET of a key overwrites the first, as Redis does. */
  function memoryRedis(): { redis: TraceRedis; store: Map<string, string> } {
    const store = new Map<string, string>();
    const client = {
      set: (key: string, value: string) => {
        store.set(key, value);
        return Promise.resolve("OK");
      },
    } as unknown as Redis;
    return { store, redis: { run: async (fn) => ({ ok: true, value: await fn(client) }) } };
  }

  afterEach(() => jest.useRealTimers());

  it("a timer firing early or late never reuses a key nor loses a request", async () => {
    // The writer's clock is injected apart from the (fake) timers, so the timer can fire "early" or "late".
    let clockMs = (T12_00_00 + 3) * 1000;
    jest.useFakeTimers();
    const { redis, store } = memoryRedis();
    const writer = new RequestTraceWriter({ redis, log: captureLogger(), now: () => clockMs });
    writer.start();
    // Each step: one request, then the timer fires with the clock at 12:00:00 + `firesAt` ms.
    const firesAt = [9_999, 20_300, 29_999, 40_000, 49_000, 60_001];
    for (const [i, at] of firesAt.entries()) {
      writer.record("a", 2 ** (i + 1), 1);
      clockMs = T12_00_00 * 1000 + at;
      await jest.advanceTimersToNextTimerAsync();
    }
    await writer.stop();
    expect([...store.keys()].sort()).toEqual(
      [10, 20, 30, 40, 50, 60].map((s) => `aibrix:a_request_trace_${T12_00_00 + s}`),
    );
    let requests = 0;
    for (const json of store.values()) {
      for (const [k, v] of Object.entries(JSON.parse(json) as Record<string, number>))
        if (!k.startsWith("meta_")) requests += v;
    }
    expect(requests).toBe(firesAt.length);
  });

  it("a timer delayed past whole windows keeps the window's own key and resumes at the next boundary", async () => {
    let clockMs = (T12_00_00 + 3) * 1000;
    jest.useFakeTimers();
    const { redis, store } = memoryRedis();
    const writer = new RequestTraceWriter({ redis, log: captureLogger(), now: () => clockMs });
    writer.start();
    writer.record("a", 2, 1);
    // The event loop was blocked: the 12:00:10 timer runs at 12:00:35.
    clockMs = (T12_00_00 + 35) * 1000;
    await jest.advanceTimersToNextTimerAsync();
    writer.record("a", 4, 1);
    clockMs = (T12_00_00 + 40) * 1000;
    await jest.advanceTimersToNextTimerAsync();
    await writer.stop();
    expect([...store.keys()].sort()).toEqual([10, 40].map((s) => `aibrix:a_request_trace_${T12_00_00 + s}`));
  });

  it("traces at most maxModels models at once: invented names past it are counted, not written", async () => {
    const clockMs = (T12_00_00 + 3) * 1000;
    jest.useFakeTimers();
    const { redis, store } = memoryRedis();
    let told = 0;
    const writer = new RequestTraceWriter({
      redis,
      log: captureLogger(),
      now: () => clockMs,
      maxModels: 3,
      onUntracked: () => told++,
    });
    writer.start();
    for (let i = 0; i < 1000; i++) {
      writer.addPending(`model-${i}`, 1);
      writer.record(`model-${i}`, 2, 1);
      writer.addPending(`model-${i}`, -1);
    }
    // The first three finished, so nothing is pending for them, but their window holds them until it is written.
    expect(writer.stats().untracked).toBe(997 * 2);
    expect(told).toBe(997 * 2);
    expect(writer.pending("model-999")).toBe(0);
    await jest.advanceTimersToNextTimerAsync();
    // A new window: the bound is free again for whoever comes next.
    writer.record("late", 2, 1);
    await writer.stop();
    expect([...store.keys()].sort()).toEqual(
      ["model-0", "model-1", "model-2"].map((m) => `aibrix:${m}_request_trace_${T12_00_00 + 10}`),
    );
    expect(writer.stats().untracked).toBe(997 * 2);
  });
});

describe("RequestTraceWriter against redis-server", () => {
  let server: TestRedisServer;
  let conn: RedisConnection;
  let states: StateWaiter;

  beforeAll(async () => {
    server = await startRedisServer();
    states = new StateWaiter();
    conn = createRedisConnection({
      host: server.host,
      port: server.port,
      log: captureLogger(),
      maxBackoffMs: 50,
      onStateChange: states.onStateChange,
    });
    await states.next("up");
  });
  afterAll(async () => {
    await conn.close();
    await server.stop();
  });
  beforeEach(async () => {
    await conn.whenReady();
    await conn.client.flushall();
  });

  it("writes one key per model, aligned to 10 s, with the exact JSON and a 600 s TTL", async () => {
    const writer = new RequestTraceWriter({
      redis: conn,
      log: captureLogger(),
      now: () => OPENED_MS,
      queueLength: (m) => (m === "a" ? 3 : 0),
    });
    for (let i = 0; i < 5; i++) writer.addPending("a", 1);
    writer.record("a", 1000, 128);
    writer.record("a", 1024, 128);
    writer.record("a", 3, 10);
    writer.record("a", 0, 1024);
    for (let i = 0; i < 3; i++) writer.addPending("a", -1);
    writer.record("b/with:odd name", 10, 3);

    const res = await writer.flush(T12_00_07);
    expect(res).toEqual({ written: 2, pending: 0 });
    expect((await conn.client.keys("*")).sort()).toEqual([
      "aibrix:a_request_trace_1795608000",
      "aibrix:b/with:odd name_request_trace_1795608000",
    ]);
    expect(await conn.client.get("aibrix:a_request_trace_1795608000")).toBe(
      '{"0:100":1,"100:70":2,"16:33":1,"meta_interval_sec":10,"meta_pending_reqs":2,"meta_precision":10,' +
        '"meta_queueing_reqs":3,"meta_total_reqs":5,"meta_v":4}',
    );
    expect(await conn.client.get("aibrix:b/with:odd name_request_trace_1795608000")).toBe(
      '{"33:16":1,"meta_interval_sec":10,"meta_pending_reqs":0,"meta_precision":10,"meta_queueing_reqs":0,"meta_total_reqs":0,"meta_v":4}',
    );
    const ttl = await conn.client.ttl("aibrix:a_request_trace_1795608000");
    expect(ttl).toBeGreaterThan(595);
    expect(ttl).toBeLessThanOrEqual(600);
  });

  it("starts a new window after each flush and skips models without traffic", async () => {
    const writer = new RequestTraceWriter({ redis: conn, log: captureLogger(), now: () => OPENED_MS });
    writer.record("a", 128, 128);
    await writer.flush(T12_00_07);
    // Nothing happened in the next window: no key (AIBrix skips ticks without a trace).
    expect(await writer.flush(T12_00_19)).toEqual({ written: 0, pending: 0 });
    writer.addPending("a", 1);
    await writer.flush(T12_00_19 + 1);
    expect(await conn.client.get("aibrix:a_request_trace_1795608000")).toBe(
      '{"70:70":1,"meta_interval_sec":10,"meta_pending_reqs":0,"meta_precision":10,"meta_queueing_reqs":0,"meta_total_reqs":0,"meta_v":4}',
    );
    expect(await conn.client.get("aibrix:a_request_trace_1795608020")).toBe(
      '{"meta_interval_sec":10,"meta_pending_reqs":1,"meta_precision":10,"meta_queueing_reqs":0,"meta_total_reqs":1,"meta_v":4}',
    );
    expect(await conn.client.exists("aibrix:a_request_trace_1795608010")).toBe(0);
  });

  it("keeps windows during an outage and writes the backlog when Redis returns", async () => {
    const writer = new RequestTraceWriter({
      redis: conn,
      log: captureLogger(),
      now: () => OPENED_MS,
      maxBacklogPerModel: 2,
    });
    await server.kill();
    await states.next("down");

    // Records continue; flushes fail fast (the awaited call returns), are counted, and never throw.
    writer.record("a", 1000, 10);
    expect(await writer.flush(T12_00_00)).toEqual({ written: 0, pending: 1, failure: "unavailable" });
    writer.record("a", 1000, 10);
    writer.record("a", 1000, 10);
    expect(await writer.flush(T12_00_07 + 10)).toEqual({ written: 0, pending: 2, failure: "unavailable" });
    writer.record("a", 3, 3);
    writer.record("b", 3, 3);
    // Third window for "a" exceeds the bound of 2: the oldest (…000) is dropped and counted.
    expect(await writer.flush(T12_00_19 + 1)).toEqual({ written: 0, pending: 3, failure: "unavailable" });
    expect(writer.stats()).toEqual({
      written: 0,
      failedFlushes: 3,
      dropped: 1,
      expired: 0,
      untracked: 0,
      backlog: 3,
    });

    await server.restart();
    await states.next("up");
    await conn.client.flushall();
    expect(await writer.flush(T12_00_19 + 11)).toEqual({ written: 3, pending: 0 });
    expect((await conn.client.keys("*")).sort()).toEqual([
      "aibrix:a_request_trace_1795608010",
      "aibrix:a_request_trace_1795608020",
      "aibrix:b_request_trace_1795608020",
    ]);
    expect(await conn.client.get("aibrix:a_request_trace_1795608010")).toBe(
      '{"100:33":2,"meta_interval_sec":10,"meta_pending_reqs":0,"meta_precision":10,"meta_queueing_reqs":0,"meta_total_reqs":0,"meta_v":4}',
    );
    // The backlog keeps the TTL it has left since its window closed (closed at …017, written at …030: 13 s late).
    const ttl = await conn.client.ttl("aibrix:a_request_trace_1795608010");
    expect(ttl).toBeGreaterThan(582);
    expect(ttl).toBeLessThanOrEqual(587);
    expect(writer.stats()).toMatchObject({ written: 3, backlog: 0 });
  });

  it("drops backlog windows whose 10 min TTL has passed", async () => {
    const writer = new RequestTraceWriter({ redis: conn, log: captureLogger(), now: () => OPENED_MS });
    await server.kill();
    await states.next("down");
    writer.record("a", 1, 1);
    expect((await writer.flush(T12_00_00)).failure).toBe("unavailable");
    await server.restart();
    await states.next("up");
    expect(await writer.flush(T12_00_00 + 600)).toEqual({ written: 0, pending: 0 });
    expect(writer.stats()).toMatchObject({ expired: 1, backlog: 0 });
  });

  it("fires the production timer at the next wall-clock multiple of 10 s", async () => {
    jest.useFakeTimers({ now: T12_00_07 * 1000 });
    try {
      const writer = new RequestTraceWriter({ redis: conn, log: captureLogger() });
      const flush = jest.spyOn(writer, "flush");
      writer.start();
      writer.record("a", 2, 2);
      jest.advanceTimersByTime(2999);
      expect(flush).not.toHaveBeenCalled();
      jest.advanceTimersByTime(1);
      expect(flush).toHaveBeenCalledTimes(1);
      jest.advanceTimersByTime(10_000);
      expect(flush).toHaveBeenCalledTimes(2);
      jest.useRealTimers();
      await writer.stop();
      expect(await conn.client.get("aibrix:a_request_trace_1795608010")).toBe(
        '{"10:10":1,"meta_interval_sec":10,"meta_pending_reqs":0,"meta_precision":10,"meta_queueing_reqs":0,"meta_total_reqs":0,"meta_v":4}',
      );
    } finally {
      jest.useRealTimers();
    }
  });
});
