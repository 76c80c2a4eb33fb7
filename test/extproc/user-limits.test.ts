/**
 * Per-user RPM/TPM limits end to end: the real gRPC server, a real private redis-server, AIBrix's keys and user
 * records. Rejections are immediate responses with AIBrix's headers and the OpenAI envelope; a Redis outage lets
 * limited users through (counted), and limits hold again once Redis is back.
 */
import { connect } from "node:net";
import type Redis from "ioredis";
import type { ProcessingResponse } from "../../src/extproc/messages";
import { rateWindowBin } from "../../src/usage/rate-window";
import type { TestRedisServer } from "../support/redis-server";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  immediateReply,
  pod,
  responseBody,
  responseHeaders,
  setHeaders,
} from "./harness";
import type { Harness } from "./harness";
import { startRedisHarness } from "./redis-harness";
import type { RedisHarness } from "./redis-harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];
const USAGE = '{"usage":{"prompt_tokens":1000,"completion_tokens":128,"total_tokens":1128}}';

/**
 * The rate windows' wall clock (injected, fixed): the counters live in one-minute bins, and a test straddling a
 * real minute boundary would see its counts reset. Each test uses its own user, so one bin serves them all.
 */
const WALL = Date.UTC(2026, 0, 1, 12, 0, 30);

/** `aibrix:<user>_<kind>_CURRENT:<bin>` for the pinned minute. */
function counterKey(user: string, kind: "RPM" | "TPM"): string {
  return `aibrix:${user}_${kind}_CURRENT:${rateWindowBin(WALL, 60)}`;
}

describe("per-user limits through kvroute", () => {
  let rh: RedisHarness;
  let redis: TestRedisServer;
  let h: Harness;
  let reader: Redis;

  beforeAll(async () => {
    // Redis's answers are what this file checks: a starved machine must not turn a slow one into a failed-open
    // check (the 500 ms default; the outage paths have their own tests).
    rh = await startRedisHarness(PODS, [], {}, { usageWallNow: () => WALL, usageRedisTimeoutMs: 10_000 });
    ({ redis, h, reader } = rh);
  });
  afterAll(() => rh.close());

  const setUser = (name: string, rpm: number, tpm: number): Promise<unknown> =>
    reader.set(`aibrix-users/${name}`, JSON.stringify({ name, rpm, tpm }));

  async function checks(outcome: string): Promise<number> {
    const m = await h.server.metrics.userLimitChecks.get();
    return m.values.find((v) => v.labels["outcome"] === outcome)?.value ?? 0;
  }

  /** Request headers and body; the body's reply (a decision or an immediate response), and the open stream. */
  async function send(extra: Record<string, string>, bodyText = chatBody("m1")) {
    const s = h.client.open();
    const [hr] = await s.exchange(headers({ ...CHAT_HEADERS, ...extra }));
    if (hr?.immediate_response) return { s, reply: hr };
    const [reply] = await s.exchange(body(bodyText));
    return { s, reply };
  }

  /** A whole routed conversation with usage in the response; the response-headers reply. */
  async function conversation(extra: Record<string, string>): Promise<ProcessingResponse | undefined> {
    const { s, reply } = await send(extra);
    expect(setHeaders(reply)["target-pod"]).toMatch(/^10\.0\.0\.[12]:8000$/);
    const [rh] = await s.exchange(responseHeaders(200));
    await s.exchange(responseBody(USAGE, true));
    s.end();
    await s.status;
    return rh;
  }

  it("counts RPM in AIBrix's key, echoes it as x-update-rpm, and answers 429 past the limit", async () => {
    await setUser("alice", 2, 0);
    expect(setHeaders(await conversation({ user: "alice" }))["x-update-rpm"]).toBe("1");
    expect(setHeaders(await conversation({ user: " alice " }))["x-update-rpm"]).toBe("2");
    expect(await reader.get(counterKey("alice", "RPM"))).toBe("2");
    expect(await reader.ttl(counterKey("alice", "RPM"))).toBeGreaterThan(0);

    const before = await checks("rpm_exceeded");
    const { s, reply } = await send({ user: "alice" });
    expect(immediateReply(reply)).toMatchObject({
      status: 429,
      headers: { "x-error-rpm-exceeded": "true", "content-type": "application/json" },
      body: {
        error: {
          message: "user: alice has exceeded RPM: 2",
          type: "rate_limit_error",
          code: "rate_limit_exceeded",
          param: null,
        },
      },
    });
    await s.status;
    expect(await checks("rpm_exceeded")).toBe(before + 1);
    // A rejected request is not counted again.
    expect(await reader.get(counterKey("alice", "RPM"))).toBe("2");
  });

  it("charges the harvested total tokens to TPM at completion, then answers 429 on TPM", async () => {
    await setUser("bob", 100, 1000);
    const rh = await conversation({ user: "bob" });
    expect(setHeaders(rh)["x-update-tpm"]).toBeUndefined();
    // The reservation made at admission is settled with the usage, fire-and-forget; `settled` resolves when it has
    // reached Redis (tenant-budgets.test.ts follows the reservation itself).
    await h.server.usage.budgets?.settled();
    expect(await reader.get(counterKey("bob", "TPM"))).toBe("1128");
    const settled = await h.server.metrics.tenantBudgetWrites.get();
    expect(settled.values.find((v) => v.labels["outcome"] === "settled")?.value).toBeGreaterThanOrEqual(1);

    const { reply } = await send({ user: "bob" });
    expect(immediateReply(reply)).toMatchObject({
      status: 429,
      headers: { "x-error-tpm-exceeded": "true" },
      body: { error: { message: "user: bob has exceeded TPM: 1000", code: "rate_limit_exceeded" } },
    });
    // As AIBrix, the RPM increment of the TPM-rejected request stays.
    expect(await reader.get(counterKey("bob", "RPM"))).toBe("2");
  });

  it("an unknown user gets 403 with x-error-user", async () => {
    const { reply } = await send({ user: "carol" });
    expect(immediateReply(reply)).toMatchObject({
      status: 403,
      headers: { "x-error-user": "true" },
      body: { error: { message: "unknown user carol", type: "permission_error", code: "user_not_found" } },
    });
    expect(await reader.exists(counterKey("carol", "RPM"))).toBe(0);
  });

  it("without a (non-blank) user header Redis is not asked about users", async () => {
    // MONITOR over a plain socket: ioredis's monitor() can lose track of its command queue when monitor lines arrive
    // in the same read as MONITOR's own +OK (the replica-load sync makes that likely), failing the test by itself.
    const monitor = connect(redis.port, redis.host);
    let seen = "";
    monitor.setEncoding("utf8");
    monitor.on("data", (chunk: string) => (seen += chunk));
    // Resolves once `done()` holds, checked after each chunk the monitor receives (the listener above runs first).
    const until = (done: () => boolean): Promise<void> =>
      new Promise((resolve) => {
        const check = (): void => {
          if (!done()) return;
          monitor.off("data", check);
          resolve();
        };
        monitor.on("data", check);
        check();
      });
    try {
      await new Promise<void>((resolve) => monitor.once("connect", resolve));
      monitor.write("MONITOR\r\n");
      await until(() => seen.startsWith("+OK\r\n"));
      const before = await checks("allowed");
      await conversation({});
      await conversation({ user: "   " });
      // A marker through another client: once the monitor has seen it, it has seen everything before it.
      const marker = `marker-${Date.now()}`;
      await reader.get(marker);
      await until(() => seen.includes(marker));
      const lines = seen.split("\r\n");
      expect(lines.filter((c) => /aibrix-users\/|_RPM_CURRENT|_TPM_CURRENT/.test(c))).toEqual([]);
      expect(await checks("allowed")).toBe(before);
    } finally {
      monitor.destroy();
    }
  });

  it("a TPM-limited user's chat stream must ask for usage (400), others need not", async () => {
    await setUser("dave", 0, 5000);
    await setUser("erin", 10, 0);
    const streamed = chatBody("m1", "hi", { stream: true });
    const { reply } = await send({ user: "dave" }, streamed);
    expect(immediateReply(reply)).toMatchObject({
      status: 400,
      headers: { "x-error-no-stream-options-include-usage": "include usage for stream options not set" },
      body: { error: { param: "stream_options", type: "invalid_request_error" } },
    });
    const withUsage = chatBody("m1", "hi", { stream: true, stream_options: { include_usage: true } });
    expect(setHeaders((await send({ user: "dave" }, withUsage)).reply)["target-pod"]).toBeDefined();
    // erin's raw record has tpm 0 (defaulted to rpm*1000 for the limit, but the rule reads the raw value).
    expect(setHeaders((await send({ user: "erin" }, streamed)).reply)["target-pod"]).toBeDefined();
  });

  it("routes users while Redis is down (counted), and enforces limits again once it is back", async () => {
    await setUser("frank", 1, 0);
    const before = await checks("unavailable");
    await redis.kill();
    for (let i = 0; i < 3; i++) await conversation({ user: "frank" });
    expect(await checks("unavailable")).toBe(before + 3);

    await redis.restart();
    // The client reconnects with backoff; readiness is an event from the connection, not a guessed delay.
    await h.server.usage.redis?.whenReady();
    // The restarted server is empty: the metadata service would write the record again.
    await setUser("frank", 1, 0);
    await conversation({ user: "frank" });
    const { reply } = await send({ user: "frank" });
    expect(immediateReply(reply)).toMatchObject({ status: 429, headers: { "x-error-rpm-exceeded": "true" } });
  });
});
