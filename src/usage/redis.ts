/**
 * The Redis connection used by the usage writers (the request trace).
 *
 * Configured so that a Redis outage never blocks a caller: no offline queue (commands fail at once while
 * disconnected), one retry per request, short connect and command timeouts, and a capped-backoff reconnect loop
 * that never gives up. ioredis errors are mapped at this boundary to a closed set of reasons
 * ({@link RedisFailureReason}); callers never see a raw ioredis error. Down/up transitions are logged once each,
 * not once per failed command.
 *
 * A Redis that keeps the socket open but stops answering (hung, stopped, overloaded) never closes the connection,
 * so the circuit breaker of `redis-breaker.ts` covers it: the first command timeout opens it, which counts as the
 * connection going down (`onStateChange("down")`, `ready()` false, every command fails fast with `unavailable`),
 * and a successful probe brings it back up.
 *
 * @module
 */
import type * as Ioredis from "ioredis";
import type { Redis, RedisOptions } from "ioredis";
import { createRedisBreaker, DEFAULT_BREAKER_MAX_BACKOFF_MS } from "./redis-breaker";
import type { RedisBreakerState } from "./redis-breaker";

/** Why a Redis operation failed. */
export type RedisFailureReason = "unavailable" | "timeout" | "error";

/** Result of {@link RedisConnection.run}: never throws. */
export type RedisResult<T> = { ok: true; value: T } | { ok: false; reason: RedisFailureReason };

/** Connection state reported to `onStateChange`. */
export type RedisConnectionState = "up" | "down";

/** The two log levels this module uses; a pino `Logger` satisfies it. */
export interface UsageLogger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options for {@link createRedisConnection}. */
export interface RedisConnectionOptions {
  host: string;
  port: number;
  password?: string;
  /** `redis://` URL; when given it wins over host/port/password. */
  url?: string;
  log: UsageLogger;
  /** Called on every up/down transition (after the log line), including those of the breaker. */
  onStateChange?: (state: RedisConnectionState) => void;
  /** Called when the hang breaker opens (a command timed out) or closes (a probe was answered, or a reconnect). */
  onBreakerChange?: (state: RedisBreakerState) => void;
  /** Cap of the breaker's probe backoff in ms (default 2000). Tests use a small value. */
  maxProbeBackoffMs?: number;
  /** Connect and per-command timeout in ms (default 500). */
  timeoutMs?: number;
  /** Reconnect backoff cap in ms (default 2000). Tests use a small value. */
  maxBackoffMs?: number;
}

/** A Redis client wrapped for outage-safe use. */
export interface RedisConnection {
  /** The underlying ioredis client. Prefer {@link RedisConnection.run}, which maps errors. */
  readonly client: Redis;
  /** True while the connection is established and answering (the breaker is closed). */
  ready(): boolean;
  /** Resolves when the connection is (or becomes) ready; rejects once `close()` was called. */
  whenReady(): Promise<void>;
  /**
   * Run `fn` against the client; fails fast with `unavailable` when not connected or while the breaker is open
   * (`fn` is not called then). A `timeout` opens the breaker. Never throws.
   */
  run<T>(fn: (client: Redis) => Promise<T>): Promise<RedisResult<T>>;
  /** Disconnect and stop reconnecting; resolves once the socket is closed. Idempotent. */
  close(): Promise<void>;
}

/** Default connect/command timeout. */
export const DEFAULT_REDIS_TIMEOUT_MS = 500;
/** Default reconnect backoff cap. */
export const DEFAULT_REDIS_MAX_BACKOFF_MS = 2000;
/** Longest a breaker probe (PING) waits for its answer: a Redis slower than this stays out of the request path. */
const MAX_PROBE_TIMEOUT_MS = 250;

/** Map any error thrown by ioredis to the closed reason set. */
export function mapRedisError(err: unknown): RedisFailureReason {
  const name = err instanceof Error ? err.name : "";
  const message = err instanceof Error ? err.message : String(err);
  if (/timed? ?out|ETIMEDOUT/i.test(message)) return "timeout";
  if (
    name === "MaxRetriesPerRequestError" ||
    /Stream isn't writeable|Connection is closed|ECONNREFUSED|ECONNRESET|EPIPE|enableOfflineQueue|NOAUTH|LOADING/i.test(
      message,
    )
  ) {
    return "unavailable";
  }
  return "error";
}

/** Build the ioredis options that make an outage non-blocking. */
function clientOptions(opts: RedisConnectionOptions): Omit<RedisOptions, "replyMapping"> {
  const timeout = opts.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS;
  const cap = opts.maxBackoffMs ?? DEFAULT_REDIS_MAX_BACKOFF_MS;
  const base: Omit<RedisOptions, "replyMapping"> = {
    enableOfflineQueue: false,
    maxRetriesPerRequest: 1,
    connectTimeout: timeout,
    commandTimeout: timeout,
    // Reconnect forever with capped exponential backoff.
    retryStrategy: (times: number) => Math.min(cap, 50 * 2 ** Math.min(times, 16)),
    enableReadyCheck: true,
    lazyConnect: false,
  };
  if (opts.url === undefined) {
    base.host = opts.host;
    base.port = opts.port;
    if (opts.password !== undefined) base.password = opts.password;
  }
  return base;
}

/** Create a connection; it starts connecting at once and reconnects forever until `close()`. */
export function createRedisConnection(opts: RedisConnectionOptions): RedisConnection {
  const options = clientOptions(opts);
  const { Redis } = loadIoredis();
  const client = opts.url !== undefined ? new Redis(opts.url, options) : new Redis(options);
  const where = opts.url !== undefined ? { url: redactUrl(opts.url) } : { host: opts.host, port: opts.port };
  // "unknown" until the first connect attempt resolves, so the first failure is logged once as well.
  let state: RedisConnectionState | "unknown" = "unknown";
  let closed = false;
  let waiters: { resolve: () => void; reject: (e: Error) => void }[] = [];

  const transition = (next: RedisConnectionState, detail: object): void => {
    if (next === state) return;
    state = next;
    if (closed) return; // an intentional close is not an outage
    if (next === "up") {
      opts.log.info(where, "redis connection up");
      const w = waiters;
      waiters = [];
      for (const x of w) x.resolve();
    } else opts.log.warn({ ...where, ...detail }, "redis connection down");
    opts.onStateChange?.(next);
  };

  const probeTimeoutMs = Math.min(opts.timeoutMs ?? DEFAULT_REDIS_TIMEOUT_MS, MAX_PROBE_TIMEOUT_MS);
  const breaker = createRedisBreaker({
    maxBackoffMs: opts.maxProbeBackoffMs ?? DEFAULT_BREAKER_MAX_BACKOFF_MS,
    probe: () =>
      closed || client.status !== "ready" ? Promise.resolve(false) : ping(client, probeTimeoutMs),
    onChange(s) {
      if (closed) return;
      opts.onBreakerChange?.(s);
      // Only a connected client can be "up": a breaker closed by a reconnect is followed by ioredis's own ready.
      if (s === "open") transition("down", { reason: "timeout" });
      else if (client.status === "ready") transition("up", {});
    },
  });

  client.on("ready", () => {
    // A fresh socket: whatever hung the last one is gone with it.
    breaker.reset();
    transition("up", {});
  });
  // Errors are reported through state transitions; the listener also keeps ioredis from throwing.
  let lastReason: RedisFailureReason = "unavailable";
  client.on("error", (err: unknown) => {
    lastReason = mapRedisError(err);
  });
  client.on("close", () => {
    breaker.pause();
    transition("down", { reason: lastReason });
  });

  return {
    client,
    ready: () => state === "up" && client.status === "ready" && breaker.state() === "closed",
    whenReady(): Promise<void> {
      if (closed) return Promise.reject(new Error("redis connection closed"));
      if (state === "up" && client.status === "ready") return Promise.resolve();
      return new Promise((resolve, reject) => waiters.push({ resolve, reject }));
    },
    async run<T>(fn: (c: Redis) => Promise<T>): Promise<RedisResult<T>> {
      if (closed || client.status !== "ready" || breaker.state() === "open")
        return { ok: false, reason: "unavailable" };
      const epoch = breaker.epoch();
      try {
        const value = await fn(client);
        if (pipelineTimedOut(value)) breaker.timedOut(epoch);
        return { ok: true, value };
      } catch (err: unknown) {
        const reason = mapRedisError(err);
        if (reason === "timeout") breaker.timedOut(epoch);
        return { ok: false, reason };
      }
    },
    async close(): Promise<void> {
      if (!closed) {
        closed = true;
        breaker.pause();
        const w = waiters;
        waiters = [];
        for (const x of w) x.reject(new Error("redis connection closed"));
      }
      if (client.status === "end") return;
      const ended = new Promise<void>((resolve) => client.once("end", () => resolve()));
      client.disconnect(false);
      // ioredis does not always emit `end` when it is disconnected between reconnect attempts: do not wait for
      // it longer than a moment (the socket is already closed or never opened then).
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([ended, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1000)))]);
      clearTimeout(timer);
    },
  };
}

/**
 * Whether `value` is a pipeline's `exec()` result (`[error, reply][]`) with a timed-out command: a pipeline
 * resolves with per-command errors instead of rejecting, so its timeouts would otherwise never reach the breaker.
 */
function pipelineTimedOut(value: unknown): boolean {
  if (!Array.isArray(value)) return false;
  for (const entry of value as unknown[]) {
    if (Array.isArray(entry) && entry[0] instanceof Error && mapRedisError(entry[0]) === "timeout")
      return true;
  }
  return false;
}

/** PING with its own (short) timeout; true when Redis answered. Never rejects. */
async function ping(client: Redis, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), timeoutMs)));
  try {
    return await Promise.race([
      client.ping().then(
        () => true,
        () => false,
      ),
      late,
    ]);
  } finally {
    clearTimeout(timer);
  }
}

/**
 * `ioredis`, loaded when the first connection is made: only a kvroute with a Redis feature on connects, and the
 * package costs every other process (each test file too) 15–30 ms of CPU to load.
 */
function loadIoredis(): typeof Ioredis {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see above)
  return require("ioredis") as typeof Ioredis;
}

/** Drop any password from a redis:// URL before logging it. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^@/]*)@/, "//***@");
}
