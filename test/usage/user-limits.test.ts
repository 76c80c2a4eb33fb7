/**
 * Per-user RPM/TPM limits against a real, private redis-server: AIBrix's exact keys and values (read back with a
 * second client), window rollover on an injected clock, the check order of `checkLimits`, record validation, and
 * fail-open behaviour through a Redis outage (no hang, recovery after restart).
 */
import Redis from "ioredis";
import {
  createRedisConnection,
  createUserLimits,
  effectiveLimits,
  limitError,
  parseUserRecord,
} from "../../src/usage";
import type { RedisConnection, UserLimits, UserRecord } from "../../src/usage";
import { rateWindowBin } from "../../src/usage/rate-window";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { captureLogger, StateWaiter } from "./helpers";

/** Start of a minute: unix 1699999980, (1699999980 / 60) % 64 = 21. */
const T0 = 1_699_999_980_000;
const MINUTE = 60_000;

/** Resolve `p`, or fail if it has not settled within `ms` (a guard against hangs, not a synchronisation sleep). */
async function settlesWithin<T>(p: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const guard = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`did not settle within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([p, guard]);
  } finally {
    clearTimeout(timer);
  }
}

describe("rateWindowBin", () => {
  it("is (unixSeconds / window) % 64 with truncating division", () => {
    expect(rateWindowBin(T0, 60)).toBe(21);
    expect(rateWindowBin(T0 + MINUTE - 1, 60)).toBe(21);
    expect(rateWindowBin(T0 + MINUTE, 60)).toBe(22);
    // unix 1700002500 is bin 63; the next minute wraps to 0.
    expect(rateWindowBin(1_700_002_500_000, 60)).toBe(63);
    expect(rateWindowBin(1_700_002_560_000, 60)).toBe(0);
    expect(rateWindowBin(1_700_000_000_999, 1)).toBe(1_700_000_000 % 64);
  });
});

describe("parseUserRecord / effectiveLimits", () => {
  it("accepts the metadata-service JSON and Go's zero values", () => {
    expect(parseUserRecord('{"name":"u","rpm":5,"tpm":7}')).toEqual({ name: "u", rpm: 5, tpm: 7 });
    expect(parseUserRecord('{"name":"u"}')).toEqual({ name: "u", rpm: 0, tpm: 0 });
    expect(parseUserRecord('{"name":"u","rpm":null,"tpm":3}')).toEqual({ name: "u", rpm: 0, tpm: 3 });
  });

  it("rejects malformed records", () => {
    for (const raw of [
      "not json",
      "[]",
      "null",
      '"u"',
      '{"rpm":1,"tpm":1}',
      '{"name":"","rpm":1}',
      '{"name":1}',
      '{"name":"u","rpm":"5"}',
      '{"name":"u","rpm":1.5}',
      '{"name":"u","tpm":-1}',
    ]) {
      expect(parseUserRecord(raw)).toBeUndefined();
    }
  });

  it("applies AIBrix defaults: rpm 0 → 100, then tpm 0 → rpm × 1000", () => {
    expect(effectiveLimits({ name: "u", rpm: 0, tpm: 0 })).toEqual({ rpm: 100, tpm: 100_000 });
    expect(effectiveLimits({ name: "u", rpm: 3, tpm: 0 })).toEqual({ rpm: 3, tpm: 3000 });
    expect(effectiveLimits({ name: "u", rpm: 0, tpm: 9 })).toEqual({ rpm: 100, tpm: 9 });
  });
});

describe("limitError", () => {
  it("maps exceeded limits to AIBrix's 429s", () => {
    expect(limitError({ t: "rpm-exceeded", limit: 3 }, "alice")).toEqual({
      status: 429,
      header: ["x-error-rpm-exceeded", "true"],
      message: "user: alice has exceeded RPM: 3",
      code: "rate_limit_exceeded",
    });
    expect(limitError({ t: "tpm-exceeded", limit: 50 }, "alice")).toEqual({
      status: 429,
      header: ["x-error-tpm-exceeded", "true"],
      message: "user: alice has exceeded TPM: 50",
      code: "rate_limit_exceeded",
    });
  });

  it("maps an unknown user to 403, and lets ok/allowed/unavailable through", () => {
    expect(limitError({ t: "unknown" }, "bob")).toEqual({
      status: 403,
      header: ["x-error-user", "true"],
      message: "unknown user bob",
      code: "user_not_found",
    });
    expect(limitError({ t: "ok", user: { name: "bob", rpm: 1, tpm: 1 } }, "bob")).toBeUndefined();
    expect(limitError({ t: "allowed", rpmAfter: 1, tpm: 0 }, "bob")).toBeUndefined();
    expect(limitError({ t: "unavailable", reason: "unavailable" }, "bob")).toBeUndefined();
  });
});

describe("createUserLimits (real redis-server)", () => {
  let server: TestRedisServer;
  let conn: RedisConnection | undefined;
  let admin: Redis;
  let clock: number;
  let limits: UserLimits;

  const putUser = async (u: UserRecord): Promise<void> => {
    await admin.set(`aibrix-users/${u.name}`, JSON.stringify(u));
  };

  beforeAll(async () => {
    server = await startRedisServer();
  });
  beforeEach(async () => {
    admin = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
    await admin.flushall();
    clock = T0;
    conn = createRedisConnection({ host: server.host, port: server.port, log: captureLogger() });
    await conn.whenReady();
    limits = createUserLimits({ redis: conn, now: () => clock, log: captureLogger() });
  });
  afterEach(async () => {
    await conn?.close();
    conn = undefined;
    admin.disconnect();
  });
  afterAll(async () => {
    await server.stop();
  });

  it("looks up aibrix-users/<name>; a missing key is unknown, bad JSON is bad-record", async () => {
    await admin.set("aibrix-users/alice", '{"name":"alice","rpm":10,"tpm":500}');
    expect(await limits.lookup("alice")).toEqual({ t: "ok", user: { name: "alice", rpm: 10, tpm: 500 } });
    expect(await limits.lookup("nobody")).toEqual({ t: "unknown" });
    await admin.set("aibrix-users/broken", "{not json");
    expect(await limits.lookup("broken")).toEqual({ t: "unavailable", reason: "bad-record" });
    await admin.set("aibrix-users/neg", '{"name":"neg","rpm":-1}');
    expect(await limits.lookup("neg")).toEqual({ t: "unavailable", reason: "bad-record" });
  });

  it("writes aibrix:<user>_RPM_CURRENT:<bin> with INCR + EXPIRE 60 and reads TPM without creating it", async () => {
    const user = { name: "alice", rpm: 10, tpm: 500 };
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: 1, tpm: 0 });
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: 2, tpm: 0 });

    expect(await admin.keys("*")).toEqual(["aibrix:alice_RPM_CURRENT:21"]);
    expect(await admin.get("aibrix:alice_RPM_CURRENT:21")).toBe("2");
    expect(await admin.type("aibrix:alice_RPM_CURRENT:21")).toBe("string");
    const ttl = await admin.ttl("aibrix:alice_RPM_CURRENT:21");
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(60);
  });

  it("rejects at the limit: GET >= rpm before the INCR, so exactly rpm requests pass per window", async () => {
    const user = { name: "carol", rpm: 3, tpm: 0 };
    for (let i = 1; i <= 3; i++) {
      expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: i, tpm: 0 });
    }
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "rpm-exceeded", limit: 3 });
    // A rejected request is not counted.
    expect(await admin.get("aibrix:carol_RPM_CURRENT:21")).toBe("3");

    // Still the same window 1 ms before its end.
    clock = T0 + MINUTE - 1;
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "rpm-exceeded", limit: 3 });

    // Rollover: a new bin key starts from 0; the old one is left to expire.
    clock = T0 + MINUTE;
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: 1, tpm: 0 });
    expect(await admin.get("aibrix:carol_RPM_CURRENT:22")).toBe("1");
    expect(await admin.get("aibrix:carol_RPM_CURRENT:21")).toBe("3");
  });

  it("uses the default RPM of 100 when the record's rpm is 0", async () => {
    const user = { name: "dave", rpm: 0, tpm: 0 };
    await admin.set("aibrix:dave_RPM_CURRENT:21", "99");
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: 100, tpm: 0 });
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "rpm-exceeded", limit: 100 });
  });

  it("charges TPM with INCRBY + EXPIRE 60, then rejects once TPM >= limit, keeping the RPM increment", async () => {
    const user = { name: "erin", rpm: 100, tpm: 50 };
    await putUser(user);
    const found = await limits.lookup("erin");
    expect(found.t).toBe("ok");

    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: 1, tpm: 0 });
    expect(await limits.chargeTokens(user, 30)).toEqual({ ok: true, tpmAfter: 30 });
    expect(await admin.get("aibrix:erin_TPM_CURRENT:21")).toBe("30");
    const ttl = await admin.ttl("aibrix:erin_TPM_CURRENT:21");
    expect(ttl).toBeGreaterThan(55);
    expect(ttl).toBeLessThanOrEqual(60);

    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: 2, tpm: 30 });
    expect(await limits.chargeTokens(user, 20)).toEqual({ ok: true, tpmAfter: 50 });

    const out = await limits.checkAndCountRequest(user);
    expect(out).toEqual({ t: "tpm-exceeded", limit: 50 });
    expect(limitError(out, user.name)?.message).toBe("user: erin has exceeded TPM: 50");
    // As AIBrix: the RPM increment of the TPM-rejected request is not rolled back.
    expect(await admin.get("aibrix:erin_RPM_CURRENT:21")).toBe("3");

    // The next minute is a fresh TPM window.
    clock = T0 + MINUTE;
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: 1, tpm: 0 });
    expect(await limits.chargeTokens(user, 5)).toEqual({ ok: true, tpmAfter: 5 });
    expect(await admin.get("aibrix:erin_TPM_CURRENT:22")).toBe("5");

    expect(await limits.chargeTokens(user, -1)).toEqual({ ok: false, reason: "bad-tokens" });
    expect(await limits.chargeTokens(user, 1.5)).toEqual({ ok: false, reason: "bad-tokens" });
  });

  it("keys counters by the record's name", async () => {
    await admin.set("aibrix-users/alias", '{"name":"real","rpm":5,"tpm":0}');
    const found = await limits.lookup("alias");
    if (found.t !== "ok") throw new Error(`lookup: ${found.t}`);
    await limits.checkAndCountRequest(found.user);
    expect(await admin.get("aibrix:real_RPM_CURRENT:21")).toBe("1");
  });

  it("reports a non-integer counter as unavailable (bad-counter) instead of throwing", async () => {
    await admin.set("aibrix:frank_RPM_CURRENT:21", "abc");
    expect(await limits.checkAndCountRequest({ name: "frank", rpm: 5, tpm: 0 })).toEqual({
      t: "unavailable",
      reason: "bad-counter",
    });
    await admin.set("aibrix:frank_TPM_CURRENT:21", "abc");
    expect(await limits.chargeTokens({ name: "frank", rpm: 5, tpm: 0 }, 3)).toEqual({
      ok: false,
      reason: "bad-counter",
    });
  });

  it("fails open and fast while Redis is down, and works again after a restart", async () => {
    await conn?.close();
    const states = new StateWaiter();
    conn = createRedisConnection({
      host: server.host,
      port: server.port,
      log: captureLogger(),
      maxBackoffMs: 50,
      onStateChange: states.onStateChange,
    });
    await states.next("up");
    limits = createUserLimits({ redis: conn, now: () => clock, log: captureLogger() });
    const user = { name: "gina", rpm: 5, tpm: 100 };
    await putUser(user);

    admin.disconnect();
    await server.kill();
    // Issued before the client has noticed: must still settle (error or timeout), never hang.
    const racing = await settlesWithin(limits.checkAndCountRequest(user), 5000);
    expect(racing.t).toBe("unavailable");

    await states.next("down");
    expect(await settlesWithin(limits.lookup("gina"), 1000)).toEqual({
      t: "unavailable",
      reason: "unavailable",
    });
    const down = await settlesWithin(limits.checkAndCountRequest(user), 1000);
    expect(down).toEqual({ t: "unavailable", reason: "unavailable" });
    expect(limitError(down, user.name)).toBeUndefined();
    expect(await settlesWithin(limits.chargeTokens(user, 10), 1000)).toEqual({
      ok: false,
      reason: "unavailable",
    });

    await server.restart();
    await states.next("up");
    admin = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
    await putUser(user);
    expect(await limits.lookup("gina")).toEqual({ t: "ok", user });
    expect(await limits.checkAndCountRequest(user)).toEqual({ t: "allowed", rpmAfter: 1, tpm: 0 });
    expect(await limits.chargeTokens(user, 10)).toEqual({ ok: true, tpmAfter: 10 });
    expect(await admin.get("aibrix:gina_RPM_CURRENT:21")).toBe("1");
    expect(await admin.get("aibrix:gina_TPM_CURRENT:21")).toBe("10");
  });
});
