/**
 * Shared helpers for the usage tests: a capturing logger and an event-driven waiter for Redis connection
 * state changes (no sleeps).
 *
 * @module
 */
import type { RedisConnectionState, UsageLogger } from "../../src/usage";

/** A logger that records `level msg` lines. */
export function captureLogger(): UsageLogger & { lines: string[] } {
  const lines: string[] = [];
  return {
    lines,
    info: (_obj: object, msg: string) => lines.push(`info ${msg}`),
    warn: (_obj: object, msg: string) => lines.push(`warn ${msg}`),
  };
}

/** Collects state changes; `next(s)` resolves on the next (or an already-seen, unconsumed) change to `s`. */
export class StateWaiter {
  private readonly seen: RedisConnectionState[] = [];
  private waiting: { state: RedisConnectionState; resolve: () => void } | undefined;

  /** Pass this as `onStateChange`. */
  readonly onStateChange = (s: RedisConnectionState): void => {
    if (this.waiting?.state === s) {
      const w = this.waiting;
      this.waiting = undefined;
      w.resolve();
      return;
    }
    this.seen.push(s);
  };

  /** Wait for a transition to `state`. */
  next(state: RedisConnectionState): Promise<void> {
    const i = this.seen.indexOf(state);
    if (i >= 0) {
      this.seen.splice(0, i + 1);
      return Promise.resolve();
    }
    return new Promise((resolve) => {
      this.waiting = { state, resolve };
    });
  }
}
