/**
 * AIBrix's fixed-window Redis counter (`pkg/plugins/gateway/ratelimiter/redis.go`), byte-compatible
 * so kvroute and AIBrix gateways can share one Redis:
 *
 * - key = `<name>:<key>:<(unixSeconds / windowSeconds) % 64>` (integer division, as Go's `int64` arithmetic);
 * - `get` is `GET key`, a missing key reads as 0;
 * - `incr` is a (non-transactional) pipeline `INCRBY key val` + `EXPIRE key windowSeconds`, returning the
 *   value after the increment.
 *
 * There is no sliding window: a counter resets when the bin changes (and its key expires `windowSeconds` after
 * the last increment).
 *
 * @module
 */
import { mapRedisError } from "./redis";
import type { RedisConnection, RedisFailureReason } from "./redis";

/** Number of bins a window key cycles through (`% 64` in AIBrix). */
export const RATE_WINDOW_BINS = 64;

/** Why a window operation failed: a Redis failure, or a stored counter that is not an integer. */
export type RateWindowFailure = RedisFailureReason | "bad-counter";

/** Result of a window operation; never throws. */
export type RateWindowResult = { ok: true; value: number } | { ok: false; reason: RateWindowFailure };

/** A fixed-window counter family sharing one name prefix and window length. */
export interface RateWindow {
  /** The Redis key for `key` at time `nowMs` (Unix epoch milliseconds). */
  keyFor(key: string, nowMs: number): string;
  /** Current count of `key` in the window containing `nowMs`; a missing key is 0. */
  get(key: string, nowMs: number): Promise<RateWindowResult>;
  /** `INCRBY` + `EXPIRE` in one pipeline; returns the count after the increment. */
  incr(key: string, by: number, nowMs: number): Promise<RateWindowResult>;
}

/** Options for {@link createRateWindow}. */
export interface RateWindowOptions {
  redis: RedisConnection;
  /** Key prefix: `aibrix` for user RPM/TPM, `aibrix_model` for model RPS. */
  name: string;
  /** Window length in whole seconds: 60 for user RPM/TPM, 1 for model RPS. */
  windowSeconds: number;
}

/** The AIBrix bin of `nowMs`: `(unixSeconds / windowSeconds) % 64`, with Go's truncating integer division. */
export function rateWindowBin(nowMs: number, windowSeconds: number): number {
  const unix = Math.trunc(nowMs / 1000);
  return Math.trunc(unix / windowSeconds) % RATE_WINDOW_BINS;
}

/** Parse a Redis integer reply (a string from GET, a number from INCRBY). */
function parseCounter(raw: unknown): number | undefined {
  if (raw === null || raw === undefined) return 0;
  if (typeof raw === "number") return Number.isSafeInteger(raw) ? raw : undefined;
  if (typeof raw !== "string" || !/^-?\d+$/.test(raw)) return undefined;
  const n = Number(raw);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Map a per-command pipeline error. */
function commandFailure(err: Error): RateWindowFailure {
  if (/WRONGTYPE|not an integer|out of range/i.test(err.message)) return "bad-counter";
  return mapRedisError(err);
}

/** Create a fixed-window counter family over an outage-safe connection. */
export function createRateWindow(opts: RateWindowOptions): RateWindow {
  const { redis, name, windowSeconds } = opts;
  if (!Number.isInteger(windowSeconds) || windowSeconds <= 0) {
    throw new Error(`rate window seconds must be a positive integer, got ${windowSeconds}`);
  }
  const keyFor = (key: string, nowMs: number): string =>
    `${name}:${key}:${rateWindowBin(nowMs, windowSeconds)}`;

  return {
    keyFor,
    async get(key, nowMs) {
      const res = await redis.run((c) => c.get(keyFor(key, nowMs)));
      if (!res.ok) return res;
      const n = parseCounter(res.value);
      return n === undefined ? { ok: false, reason: "bad-counter" } : { ok: true, value: n };
    },
    async incr(key, by, nowMs) {
      const k = keyFor(key, nowMs);
      const res = await redis.run((c) => c.pipeline().incrby(k, by).expire(k, windowSeconds).exec());
      if (!res.ok) return res;
      const replies = res.value;
      if (replies === null || replies.length !== 2) return { ok: false, reason: "unavailable" };
      const [incrReply, expireReply] = replies;
      // Per-command errors: a key holding a non-integer (or another type) is a bad counter; anything else
      // (a connection dropped mid-pipeline, a timeout) is mapped like any Redis error.
      if (incrReply === undefined) return { ok: false, reason: "error" };
      if (incrReply[0] !== null) return { ok: false, reason: commandFailure(incrReply[0]) };
      if (expireReply !== undefined && expireReply[0] !== null) {
        return { ok: false, reason: commandFailure(expireReply[0]) };
      }
      const n = parseCounter(incrReply[1]);
      return n === undefined ? { ok: false, reason: "bad-counter" } : { ok: true, value: n };
    },
  };
}
