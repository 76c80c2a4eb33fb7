/**
 * Tenant token budgets end to end, through the real gRPC server: with a real private redis-server (AIBrix's TPM
 * keys: reserved at admission, settled to the real usage on completion, released when the stream goes away; a burst
 * cannot overshoot by its in-flight output; an outage fails open, counted), and without Redis (in-process windows).
 */
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
  startHarness,
} from "./harness";
import type { ExtProcStream, Harness } from "./harness";
import { startRedisHarness } from "./redis-harness";
import type { RedisHarness } from "./redis-harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"])];
/** A one-message prompt ("hi"): its estimate is 1 token, so a request with `max_tokens: N` reserves N + 1. */
const PROMPT = "hi";
const usage = (total: number): string =>
  JSON.stringify({ usage: { prompt_tokens: 1, completion_tokens: total - 1, total_tokens: total } });

/** The rate windows' wall clock, pinned mid-minute (a test straddling a real minute would see its counts reset). */
const WALL = Date.UTC(2026, 0, 1, 12, 0, 30);
let wall = WALL;

/** `aibrix:<counter>_TPM_CURRENT:<bin>` at the pinned clock. */
const tpmKey = (counter: string): string => `aibrix:${counter}_TPM_CURRENT:${rateWindowBin(wall, 60)}`;

/** Send a request's headers; the stream, its body not sent yet. */
async function open(h: Harness, extra: Record<string, string>): Promise<ExtProcStream> {
  const s = h.client.open();
  await s.exchange(headers({ ...CHAT_HEADERS, ...extra }));
  return s;
}

/** Send the body asking for at most `maxTokens`; the reply: a routing decision or an immediate response. */
async function ask(s: ExtProcStream, maxTokens: number): Promise<ProcessingResponse | undefined> {
  const [reply] = await s.exchange(body(chatBody("m1", PROMPT, { max_tokens: maxTokens })));
  return reply;
}

/** Answer a routed request with `total` tokens of usage and end its stream. */
async function complete(s: ExtProcStream, total: number): Promise<void> {
  await s.exchange(responseHeaders(200));
  await s.exchange(responseBody(usage(total), true));
  s.end();
  await s.status;
}

const routed = (r: ProcessingResponse | undefined): boolean => setHeaders(r)["target-pod"] !== undefined;

async function counted(h: Harness, metric: "tenantBudgetChecks" | "tenantBudgetWrites", outcome: string) {
  const m = await h.server.metrics[metric].get();
  return m.values.find((v) => v.labels["outcome"] === outcome)?.value ?? 0;
}

describe("tenant token budgets with Redis (AIBrix's TPM keys)", () => {
  let rh: RedisHarness;
  let h: Harness;
  let reader: Redis;
  let redis: TestRedisServer;

  beforeAll(async () => {
    rh = await startRedisHarness(
      PODS,
      ["--tenant-header=X-Team", "--tenant-tpm-overrides=header:acme=1000,header:beta=1000"],
      {},
      { usageWallNow: () => wall },
    );
    ({ h, reader, redis } = rh);
  });
  afterAll(() => rh.close());
  beforeEach(() => {
    wall = WALL;
  });

  const settled = (): Promise<void> => h.server.usage.budgets?.settled() ?? Promise.resolve();

  it("a user's record TPM: reserved at admission (the key rises before completion), settled to the real usage", async () => {
    await reader.set("aibrix-users/ann", JSON.stringify({ name: "ann", rpm: 100, tpm: 10_000 }));
    const s = await open(h, { user: "ann" });
    expect(routed(await ask(s, 500))).toBe(true);
    await settled();
    expect(await reader.get(tpmKey("ann"))).toBe("501");
    await complete(s, 1128);
    await settled();
    expect(await reader.get(tpmKey("ann"))).toBe("1128");
  });

  it("a burst cannot overshoot by its in-flight output; completion settles, a cancel releases", async () => {
    const checks = { exceeded: await counted(h, "tenantBudgetChecks", "exceeded") };
    // Both read the counter at headers before either reserves; their bodies then arrive together.
    const a = await open(h, { "x-team": "acme" });
    const b = await open(h, { "x-team": "acme" });
    const [ra, rb] = await Promise.all([ask(a, 600), ask(b, 600)]);
    expect([routed(ra), routed(rb)].sort()).toEqual([false, true]);
    const [first, refused] = routed(ra) ? [a, rb] : [b, ra];
    expect(immediateReply(refused)).toMatchObject({
      status: 429,
      headers: { "x-error-tpm-exceeded": "true", "content-type": "application/json" },
      body: {
        error: {
          message:
            "tenant: header:acme has exceeded TPM: 1000 (this request reserves 601 tokens, 601 in use)",
          type: "rate_limit_error",
          code: "rate_limit_exceeded",
        },
      },
    });
    expect(await counted(h, "tenantBudgetChecks", "exceeded")).toBe(checks.exceeded + 1);
    await settled();
    expect(await reader.get(tpmKey("kvroute-tenant:header:acme"))).toBe("601");

    // The first used less than it reserved: the difference goes back, and the next one fits (300 + 601 <= 1000).
    await complete(first, 300);
    await settled();
    expect(await reader.get(tpmKey("kvroute-tenant:header:acme"))).toBe("300");
    const c = await open(h, { "x-team": "acme" });
    expect(routed(await ask(c, 600))).toBe(true);
    await settled();
    expect(await reader.get(tpmKey("kvroute-tenant:header:acme"))).toBe("901");

    // It goes away before any usage is known: its whole reservation is released.
    const released = await counted(h, "tenantBudgetWrites", "released");
    const idle = h.server.extProc.idle();
    c.cancel();
    await idle;
    await settled();
    expect(await reader.get(tpmKey("kvroute-tenant:header:acme"))).toBe("300");
    expect(await counted(h, "tenantBudgetWrites", "released")).toBe(released + 1);
  });

  it("past the reservation's minute a surplus is dropped and a shortfall charged to the current minute", async () => {
    const counter = "kvroute-tenant:header:beta";
    const low = await open(h, { "x-team": "beta" });
    const high = await open(h, { "x-team": "beta" });
    expect(routed(await ask(low, 400))).toBe(true);
    expect(routed(await ask(high, 100))).toBe(true);
    await settled();
    const reservedKey = tpmKey(counter);
    expect(await reader.get(reservedKey)).toBe("502");
    wall = WALL + 60_000;
    await complete(low, 50);
    await complete(high, 301);
    await settled();
    expect(await reader.get(reservedKey)).toBe("502");
    expect(await reader.get(tpmKey(counter))).toBe("200");
  });

  it("fails open while Redis is down (counted), and budgets hold again once it is back", async () => {
    const unavailable = await counted(h, "tenantBudgetChecks", "unavailable");
    await redis.kill();
    try {
      // Far beyond the budget on its own: only an unchecked request gets through.
      const s = await open(h, { "x-team": "acme" });
      expect(routed(await ask(s, 5000))).toBe(true);
      expect(await counted(h, "tenantBudgetChecks", "unavailable")).toBe(unavailable + 1);
      s.cancel();
    } finally {
      await redis.restart();
      await h.server.usage.redis?.whenReady();
      await reader.ping();
    }
    const s = await open(h, { "x-team": "acme" });
    expect(immediateReply(await ask(s, 5000)).status).toBe(429);
  });
});

describe("tenant token budgets without Redis (in-process, per replica)", () => {
  let h: Harness;

  beforeAll(async () => {
    h = await startHarness(PODS, ["--tenant-tpm=1000"], {}, { usageWallNow: () => wall });
  });
  afterAll(() => h.close());

  it("reserves per tenant, refuses what does not fit, settles on completion and releases on cancel", async () => {
    const a = await open(h, { user: "u1" });
    expect(routed(await ask(a, 600))).toBe(true);
    // Same tenant while the first holds its reservation: refused; another tenant has its own budget.
    expect(immediateReply(await ask(await open(h, { user: "u1" }), 600))).toMatchObject({
      status: 429,
      headers: { "x-error-tpm-exceeded": "true" },
    });
    const other = await open(h, { user: "u2" });
    expect(routed(await ask(other, 600))).toBe(true);

    await complete(a, 300);
    const c = await open(h, { user: "u1" });
    expect(routed(await ask(c, 600))).toBe(true);
    const idle = h.server.extProc.idle();
    c.cancel();
    other.cancel();
    await idle;
    // Released: 300 used + 601 fits again.
    expect(routed(await ask(await open(h, { user: "u1" }), 600))).toBe(true);
    expect(await counted(h, "tenantBudgetChecks", "reserved")).toBe(4);
    expect(await counted(h, "tenantBudgetChecks", "exceeded")).toBe(1);
  });
});
