/**
 * A pod subscriber's one pending timed replay: a `retry` after a failed replay (with backoff), or the single
 * `settle` check after a connect that saw no live batch yet. Kept apart from the subscriber so "at most one timer,
 * a new one replaces the old, none outlives close()" holds in one small place; what a firing does stays with the
 * subscriber. The timer is unref'd: a pending retry never keeps the process alive.
 *
 * @module
 */

/** A timed replay's reason. */
export type TimedTrigger = "retry" | "settle";

/** At most one scheduled replay. */
export class ReplayTimer {
  private timer: { handle: NodeJS.Timeout; dueAt: number; trigger: TimedTrigger } | undefined;

  /** `fire` runs when a timer is due (not after `clear`). */
  constructor(private readonly fire: (trigger: TimedTrigger) => void) {}

  /** Fire `trigger` after `ms`; replaces a timer already set. */
  set(trigger: TimedTrigger, ms: number): void {
    this.clear();
    const handle = setTimeout(() => {
      this.timer = undefined;
      this.fire(trigger);
    }, ms);
    handle.unref();
    this.timer = { handle, dueAt: performance.now() + ms, trigger };
  }

  clear(): void {
    if (this.timer) clearTimeout(this.timer.handle);
    this.timer = undefined;
  }

  /** Milliseconds until a scheduled retry (for status); undefined when no retry is scheduled. */
  retryInMs(): number | undefined {
    const t = this.timer;
    return t?.trigger === "retry" ? Math.max(0, Math.round(t.dueAt - performance.now())) : undefined;
  }
}
