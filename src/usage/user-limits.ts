/**
 * Per-user RPM/TPM limits, byte-compatible with AIBrix (`pkg/plugins/gateway/gateway_ratelimit.go`):
 *
 * - user record: `GET aibrix-users/<name>` = JSON `{"name","rpm","tpm"}` (written by the metadata service);
 * - counters: `aibrix:<user>_RPM_CURRENT:<bin>` and `aibrix:<user>_TPM_CURRENT:<bin>`, with
 *   `bin = (unixSeconds / 60) % 64`, each incremented by a pipeline `INCRBY` + `EXPIRE 60` ({@link createRateWindow});
 *   `<user>` is the record's `name`, as in AIBrix;
 * - check order (`checkLimits`): defaults (`rpm=0` → 100, then `tpm=0` → `rpm*1000`); `GET` RPM, `>= rpm` → 429;
 *   then `INCR` RPM (the value after it is echoed later as `x-update-rpm`); then `GET` TPM, `>= tpm` → 429 without
 *   rolling the RPM increment back;
 * - on a completed response: `INCRBY` TPM by `total_tokens` (echoed as `x-update-tpm`).
 *
 * Two deliberate departures from AIBrix, both at the policy layer only (keys and values are unchanged):
 * - an unknown user (no record) gets **403** with `x-error-user: true`, not AIBrix's 500;
 * - **Redis unavailable never blocks a request** (fail-open). AIBrix answers 500 when a user lookup, counter read
 *   or increment fails; here every such failure is the outcome `{ t: "unavailable" }`, which {@link limitError} maps
 *   to no error: the caller lets the request through, still calls {@link UserLimits.chargeTokens} on completion
 *   (which is itself best-effort and fails fast while Redis is down), and logs/metrics the reason. Nothing is
 *   queued for replay, so requests served during an outage are not counted against the user.
 *
 * @module
 */
import { echoClientText } from "../client-echo";
import { createRateWindow } from "./rate-window";
import type { RateWindowFailure } from "./rate-window";
import type { RedisConnection, RedisFailureReason, UsageLogger } from "./redis";

/** Redis key prefix of user records (`pkg/utils/users.go`). */
export const USER_KEY_PREFIX = "aibrix-users/";
/** Limiter name of the user RPM/TPM windows (AIBrix's `"aibrix"` limiter). */
export const USER_LIMITER_NAME = "aibrix";
/** User RPM/TPM window length in seconds (1 minute, as AIBrix's). */
export const USER_WINDOW_SECONDS = 60;
/** RPM applied when a record's `rpm` is 0 (`DefaultRPM`). */
export const DEFAULT_USER_RPM = 100;
/** TPM = rpm × this when a record's `tpm` is 0 (`DefaultTPMMultiplier`). */
export const DEFAULT_TPM_MULTIPLIER = 1000;

/** A user record exactly as stored (raw: `rpm`/`tpm` may be 0, meaning "default"). */
export interface UserRecord {
  name: string;
  rpm: number;
  tpm: number;
}

/** Why a lookup or check could not decide. `bad-record`: the stored JSON is malformed. */
export type UserLimitsFailure = RedisFailureReason | RateWindowFailure | "bad-record";

/** Outcome of {@link UserLimits.lookup}. `user` is the raw record (see {@link effectiveLimits}). */
export type UserLookup =
  { t: "ok"; user: UserRecord } | { t: "unknown" } | { t: "unavailable"; reason: UserLimitsFailure };

/** Outcome of {@link UserLimits.checkAndCountRequest}. */
export type LimitCheck =
  /** `rpmAfter`: the RPM counter after this request's increment (`x-update-rpm`); `tpm`: the TPM counter read. */
  | { t: "allowed"; rpmAfter: number; tpm: number }
  | { t: "rpm-exceeded"; limit: number }
  | { t: "tpm-exceeded"; limit: number }
  | { t: "unavailable"; reason: UserLimitsFailure };

/** Outcome of {@link UserLimits.chargeTokens}: `tpmAfter` (`x-update-tpm`) is present when `ok`. */
export type TokenCharge =
  { ok: true; tpmAfter: number } | { ok: false; reason: UserLimitsFailure | "bad-tokens" };

/**
 * A client-facing rejection, to be turned into an immediate response by the wire layer (which maps `status`
 * to a `Code`; 429 has no `Code` yet). The `message` is safe to show: it names only the user and the limit.
 */
export interface LimitErrorDescriptor {
  readonly status: 429 | 403;
  /** AIBrix-compatible error header, `[name, value]`. */
  readonly header: readonly [string, string];
  readonly message: string;
  /** OpenAI envelope `code`. */
  readonly code: "rate_limit_exceeded" | "user_not_found";
}

/** Options for {@link createUserLimits}. */
export interface UserLimitsOptions {
  redis: RedisConnection;
  /** Clock in Unix epoch milliseconds (default `Date.now`). */
  now?: () => number;
  log: UsageLogger;
}

/** Per-user lookups and RPM/TPM accounting; every method resolves (never rejects). */
export interface UserLimits {
  /** `GET aibrix-users/<name>` and validate it. */
  lookup(name: string): Promise<UserLookup>;
  /** AIBrix `checkLimits` for a looked-up user (defaults applied here). */
  checkAndCountRequest(user: UserRecord): Promise<LimitCheck>;
  /**
   * `INCRBY aibrix:<name>_TPM_CURRENT:<bin> totalTokens` + `EXPIRE 60`. A negative or non-integer count is refused
   * (`bad-tokens`) without touching Redis.
   */
  chargeTokens(user: UserRecord, totalTokens: number): Promise<TokenCharge>;
}

/** The limits AIBrix enforces for a record: `rpm=0` → 100, then `tpm=0` → `rpm*1000`. */
export function effectiveLimits(user: UserRecord): { rpm: number; tpm: number } {
  const rpm = user.rpm === 0 ? DEFAULT_USER_RPM : user.rpm;
  const tpm = user.tpm === 0 ? rpm * DEFAULT_TPM_MULTIPLIER : user.tpm;
  return { rpm, tpm };
}

/** The Redis key of a user record. */
export function userRecordKey(name: string): string {
  return `${USER_KEY_PREFIX}${name}`;
}

/** The counter (without limiter prefix and bin) of a user's RPM window: `<name>_RPM_CURRENT`. */
export function rpmCounter(name: string): string {
  return `${name}_RPM_CURRENT`;
}

/** The counter (without limiter prefix and bin) of a user's TPM window: `<name>_TPM_CURRENT`. */
export function tpmCounter(name: string): string {
  return `${name}_TPM_CURRENT`;
}

/** A JSON integer field as Go's `int64` unmarshal accepts it: absent or `null` is 0. Negative limits are rejected. */
function intField(v: unknown): number | undefined {
  if (v === undefined || v === null) return 0;
  return typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : undefined;
}

/** Parse and validate a stored user record; `undefined` when malformed. */
export function parseUserRecord(raw: string): UserRecord | undefined {
  let v: unknown;
  try {
    v = JSON.parse(raw);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null || Array.isArray(v)) return undefined;
  const o = v as Record<string, unknown>;
  if (typeof o["name"] !== "string" || o["name"] === "") return undefined;
  const rpm = intField(o["rpm"]);
  const tpm = intField(o["tpm"]);
  if (rpm === undefined || tpm === undefined) return undefined;
  return { name: o["name"], rpm, tpm };
}

/** Create the user-limit service over an outage-safe Redis connection. */
export function createUserLimits(opts: UserLimitsOptions): UserLimits {
  const { redis, log } = opts;
  const now = opts.now ?? Date.now;
  const window = createRateWindow({ redis, name: USER_LIMITER_NAME, windowSeconds: USER_WINDOW_SECONDS });

  return {
    async lookup(name) {
      const res = await redis.run((c) => c.get(userRecordKey(name)));
      if (!res.ok) return { t: "unavailable", reason: res.reason };
      if (res.value === null) return { t: "unknown" };
      const user = parseUserRecord(res.value);
      if (user === undefined) {
        log.warn({ user: echoClientText(name) }, "malformed user record");
        return { t: "unavailable", reason: "bad-record" };
      }
      return { t: "ok", user };
    },

    async checkAndCountRequest(user) {
      const limits = effectiveLimits(user);
      // One clock reading for the whole check, so the three commands address the same bin.
      const at = now();
      const rpmNow = await window.get(rpmCounter(user.name), at);
      if (!rpmNow.ok) return { t: "unavailable", reason: rpmNow.reason };
      if (rpmNow.value >= limits.rpm) return { t: "rpm-exceeded", limit: limits.rpm };
      const rpmAfter = await window.incr(rpmCounter(user.name), 1, at);
      if (!rpmAfter.ok) return { t: "unavailable", reason: rpmAfter.reason };
      // As AIBrix: the RPM increment above is not rolled back when TPM is exceeded.
      const tpmNow = await window.get(tpmCounter(user.name), at);
      if (!tpmNow.ok) return { t: "unavailable", reason: tpmNow.reason };
      if (tpmNow.value >= limits.tpm) return { t: "tpm-exceeded", limit: limits.tpm };
      return { t: "allowed", rpmAfter: rpmAfter.value, tpm: tpmNow.value };
    },

    async chargeTokens(user, totalTokens) {
      if (!Number.isSafeInteger(totalTokens) || totalTokens < 0) return { ok: false, reason: "bad-tokens" };
      const res = await window.incr(tpmCounter(user.name), totalTokens, now());
      return res.ok ? { ok: true, tpmAfter: res.value } : { ok: false, reason: res.reason };
    },
  };
}

/**
 * The client-facing rejection for an outcome, or `undefined` when the request proceeds: `allowed`, `ok`, and
 * `unavailable` (fail-open, see the module doc). `user` is the name shown in the message (AIBrix uses the record's
 * `name`).
 */
export function limitError(outcome: UserLookup | LimitCheck, user: string): LimitErrorDescriptor | undefined {
  switch (outcome.t) {
    case "rpm-exceeded":
      return {
        status: 429,
        header: ["x-error-rpm-exceeded", "true"],
        message: `user: ${echoClientText(user)} has exceeded RPM: ${outcome.limit}`,
        code: "rate_limit_exceeded",
      };
    case "tpm-exceeded":
      return {
        status: 429,
        header: ["x-error-tpm-exceeded", "true"],
        message: `user: ${echoClientText(user)} has exceeded TPM: ${outcome.limit}`,
        code: "rate_limit_exceeded",
      };
    case "unknown":
      return {
        status: 403,
        header: ["x-error-user", "true"],
        message: `unknown user ${echoClientText(user)}`,
        code: "user_not_found",
      };
    case "ok":
    case "allowed":
    case "unavailable":
      return undefined;
  }
}
