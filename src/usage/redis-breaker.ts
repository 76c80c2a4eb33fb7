/**
 * Circuit breaker for a Redis that is connected but does not answer (a hung or overloaded server, a stopped
 * process whose kernel still accepts TCP). The socket stays open then, so ioredis never reports the outage: every
 * command would wait for its full timeout. The breaker opens on the first command timeout; while it is open the
 * connection fails every command at once (callers see `unavailable` and degrade as for any outage), and a probe
 * (a PING with a short timeout, retried with capped exponential backoff) closes it as soon as Redis answers again.
 *
 * One timeout is enough to open it: the command timeout (500 ms by default) is hundreds of times Redis's normal
 * latency, so a timeout means Redis is in trouble, and a false trip costs one probe interval of fail-open.
 * Timeouts of commands sent before the breaker last closed are ignored (their epoch is old): they report the
 * outage already handled, not a new one.
 *
 * @module
 */

/** `closed`: commands go to Redis. `open`: commands fail fast; a probe runs with backoff. */
export type RedisBreakerState = "closed" | "open";

/** Options of {@link createRedisBreaker}. */
export interface RedisBreakerOptions {
  /** Ask Redis whether it answers (PING with a short timeout). Must resolve, never reject. */
  readonly probe: () => Promise<boolean>;
  /** Every transition, after the state changed. Must not throw. */
  readonly onChange: (state: RedisBreakerState) => void;
  /** First probe delay after opening, ms (default 50). */
  readonly minBackoffMs?: number;
  /** Probe delay cap, ms (default 2000). */
  readonly maxBackoffMs?: number;
}

/** The breaker of one connection. */
export interface RedisBreaker {
  /** Current state. */
  state(): RedisBreakerState;
  /** The epoch to stamp on a command being sent now (see {@link RedisBreaker.timedOut}). */
  epoch(): number;
  /** A command sent in `epoch` timed out: open the breaker (if that epoch is current) and start probing. */
  timedOut(epoch: number): void;
  /** A fresh connection is ready: close the breaker (counted if it was open) and stop probing. */
  reset(): void;
  /** Stop probing (the connection closed or is being closed); the state is kept until `reset`. */
  pause(): void;
}

/** Default first probe delay after opening. */
export const DEFAULT_BREAKER_MIN_BACKOFF_MS = 50;
/** Default cap on the probe delay. */
export const DEFAULT_BREAKER_MAX_BACKOFF_MS = 2000;

/** Create a closed breaker. */
export function createRedisBreaker(opts: RedisBreakerOptions): RedisBreaker {
  const minBackoff = Math.max(1, opts.minBackoffMs ?? DEFAULT_BREAKER_MIN_BACKOFF_MS);
  const maxBackoff = Math.max(minBackoff, opts.maxBackoffMs ?? DEFAULT_BREAKER_MAX_BACKOFF_MS);
  let state: RedisBreakerState = "closed";
  let epoch = 0;
  let timer: NodeJS.Timeout | undefined;
  // Bumped by pause/reset so a probe already in flight cannot act for a connection that has moved on.
  let probeGeneration = 0;

  const set = (next: RedisBreakerState): void => {
    if (next === state) return;
    state = next;
    // A new epoch on every transition: commands of the previous one cannot re-open a breaker that closed after them.
    epoch++;
    opts.onChange(next);
  };

  const stopProbing = (): void => {
    if (timer !== undefined) clearTimeout(timer);
    timer = undefined;
    probeGeneration++;
  };

  const scheduleProbe = (delay: number): void => {
    const generation = probeGeneration;
    timer = setTimeout(() => {
      timer = undefined;
      void opts.probe().then((answered) => {
        if (generation !== probeGeneration || state !== "open") return;
        if (answered) set("closed");
        else scheduleProbe(Math.min(maxBackoff, delay * 2));
      });
    }, delay);
    timer.unref();
  };

  return {
    state: () => state,
    epoch: () => epoch,
    timedOut(at) {
      if (at !== epoch || state === "open") return;
      set("open");
      stopProbing();
      scheduleProbe(minBackoff);
    },
    reset() {
      stopProbing();
      set("closed");
    },
    pause: stopProbing,
  };
}
