/**
 * Exponential backoff with jitter for reconnecting to the API server.
 *
 * @module
 */

/** Backoff bounds, ms. */
export interface BackoffOptions {
  /** First delay, ms (> 0). Default 200. */
  readonly initialMs: number;
  /** Largest delay, ms (>= initialMs). Default 10 000. */
  readonly maxMs: number;
}

/** Defaults: 200 ms doubling to 10 s. */
export const DEFAULT_BACKOFF: BackoffOptions = { initialMs: 200, maxMs: 10_000 };

/** A delay sequence: `next()` doubles the base (capped at `maxMs`); `reset()` starts again from `initialMs`. */
export interface Backoff {
  /** The next delay, ms: the current base scaled by a random factor in [0.8, 1.2), never above `maxMs`. */
  next(): number;
  reset(): void;
}

/**
 * Create a backoff. Jitter keeps many gateway replicas from reconnecting in lock-step after an API server restart.
 *
 * @throws RangeError when `initialMs` is not positive or `maxMs < initialMs`.
 */
export function createBackoff(
  opts: BackoffOptions = DEFAULT_BACKOFF,
  random: () => number = Math.random,
): Backoff {
  if (!(opts.initialMs > 0) || !(opts.maxMs >= opts.initialMs)) {
    throw new RangeError(`backoff needs 0 < initialMs <= maxMs, got ${opts.initialMs} and ${opts.maxMs}`);
  }
  let base = opts.initialMs;
  return {
    next() {
      const delay = Math.min(opts.maxMs, Math.round(base * (0.8 + 0.4 * random())));
      base = Math.min(opts.maxMs, base * 2);
      return delay;
    },
    reset() {
      base = opts.initialMs;
    },
  };
}
