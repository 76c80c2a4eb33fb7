/**
 * The admission layer over a real private redis-server: each outcome becomes the right `Admission` and is
 * counted once; charges are fire-and-forget, counted, and `settled()` waits for them; nothing ever rejects.
 */
import Redis from "ioredis";
import { Code } from "../../src/errors";
import { createRedisConnection, createUserLimits } from "../../src/usage";
import type { RedisConnection } from "../../src/usage";
import { rateWindowBin } from "../../src/usage/rate-window";
import { createUserAdmission, includeUsageError } from "../../src/usage/user-admission";
import type { AdmissionOutcome, ChargeOutcome, UserAdmission } from "../../src/usage/user-admission";
import { startRedisServer } from "../support/redis-server";
import type { TestRedisServer } from "../support/redis-server";
import { captureLogger } from "./helpers";

/** Fixed clock: every test addresses the same bins, whatever the wall clock does. */
const T0 = 1_699_999_980_000;

describe("user admission", () => {
  let server: TestRedisServer;
  let redis: RedisConnection;
  let reader: Redis;
  let admission: UserAdmission;
  const checks: AdmissionOutcome[] = [];
  const charges: ChargeOutcome[] = [];

  beforeAll(async () => {
    server = await startRedisServer();
    redis = createRedisConnection({ host: server.host, port: server.port, log: captureLogger() });
    await redis.whenReady();
    reader = new Redis({ host: server.host, port: server.port, maxRetriesPerRequest: 1 });
    const limits = createUserLimits({ redis, log: captureLogger(), now: () => T0 });
    admission = createUserAdmission({
      limits,
      observer: { onCheck: (o) => checks.push(o), onCharge: (o) => charges.push(o) },
    });
  });
  afterAll(async () => {
    reader.disconnect();
    await redis.close();
    await server.stop();
  });
  beforeEach(async () => {
    await reader.flushdb();
    checks.length = 0;
    charges.length = 0;
  });

  it("allows, then rejects past RPM with a RateLimited error carrying AIBrix's header", async () => {
    await reader.set("aibrix-users/u", JSON.stringify({ name: "u", rpm: 1, tpm: 0 }));
    expect(await admission.begin("u")).toEqual({
      t: "allowed",
      user: { name: "u", rpm: 1, tpm: 0 },
      rpmAfter: 1,
      tpmSeen: 0,
    });
    const second = await admission.begin("u");
    expect(second.t).toBe("rejected");
    if (second.t !== "rejected") return;
    expect(second.error.code).toBe(Code.RateLimited);
    expect(second.error.message).toBe("user: u has exceeded RPM: 1");
    expect(second.error.errorHeader).toEqual(["x-error-rpm-exceeded", "true"]);
    expect(second.error.openaiCode).toBe("rate_limit_exceeded");
    expect(checks).toEqual(["allowed", "rpm_exceeded"]);
  });

  it("rejects on TPM and for unknown users", async () => {
    await reader.set("aibrix-users/t", JSON.stringify({ name: "t", rpm: 5, tpm: 10 }));
    await reader.set(`aibrix:t_TPM_CURRENT:${rateWindowBin(T0, 60)}`, "10");
    const tpm = await admission.begin("t");
    expect(tpm.t === "rejected" && tpm.error.errorHeader).toEqual(["x-error-tpm-exceeded", "true"]);
    const unknown = await admission.begin("nobody");
    expect(unknown.t === "rejected" && unknown.error.code).toBe(Code.UnknownUser);
    expect(checks).toEqual(["tpm_exceeded", "unknown_user"]);
  });

  it("charges fire-and-forget; settled() waits; bad counts are refused and counted", async () => {
    admission.charge("u", 42);
    admission.charge("u", -1);
    await admission.settled();
    expect(await reader.get(`aibrix:u_TPM_CURRENT:${rateWindowBin(T0, 60)}`)).toBe("42");
    expect([...charges].sort()).toEqual(["bad_tokens", "ok"]);
  });

  it("fails open while Redis is down: unchecked checks, failed charges, nothing rejects", async () => {
    await server.kill();
    try {
      expect((await admission.begin("u")).t).toBe("unchecked");
      admission.charge("u", 5);
      await admission.settled();
      expect(checks).toEqual(["unavailable"]);
      expect(charges).toEqual(["unavailable"]);
    } finally {
      await server.restart();
      await redis.whenReady();
      await reader.ping();
    }
  });

  it("include_usage is required only for a raw tpm > 0 chat stream without it", () => {
    const allowed = (tpm: number) => ({
      t: "allowed" as const,
      user: { name: "u", rpm: 0, tpm },
      rpmAfter: 1,
      tpmSeen: 0,
    });
    const chat = { endpoint: "chat-completions", stream: true, includeUsage: false };
    expect(includeUsageError(allowed(5), chat)?.errorHeader).toEqual([
      "x-error-no-stream-options-include-usage",
      "include usage for stream options not set",
    ]);
    expect(includeUsageError(allowed(5), chat)?.param).toBe("stream_options");
    expect(includeUsageError(allowed(0), chat)).toBeUndefined();
    expect(includeUsageError(allowed(5), { ...chat, includeUsage: true })).toBeUndefined();
    expect(includeUsageError(allowed(5), { ...chat, stream: false })).toBeUndefined();
    expect(includeUsageError(allowed(5), { ...chat, endpoint: "completions" })).toBeUndefined();
    expect(includeUsageError({ t: "unchecked", reason: "unavailable" }, chat)).toBeUndefined();
  });
});
