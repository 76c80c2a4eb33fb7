/**
 * Logging a thing's health once per change, not once per failure: one warn line when a key (a pod's scrape, a
 * pod's KV-event stream) goes down, with its reason class, and one info line when it is back up, with how long it
 * was down. A key that keeps failing writes nothing more; a reason that changes while down writes nothing either
 * (the metrics count each failure). A global budget bounds the lines when many keys flap at once: at most
 * `maxLines` per `windowMs`; the lines dropped are counted and reported on the next line written.
 *
 * @module
 */

/** The log calls this makes (a pino logger fits). */
export interface StateLogSink {
  warn(obj: object, msg: string): void;
  info(obj: object, msg: string): void;
}

/** Options of {@link createStateChangeLog}. */
export interface StateChangeLogOptions {
  /** Message of the line when a key goes down. */
  readonly downMsg: string;
  /** Message of the line when a key comes back up. */
  readonly upMsg: string;
  /** Message of the line when a key is first seen up; absent: the first up is not logged. */
  readonly firstUpMsg?: string;
  /** Field naming the key in each line. Default `pod`. */
  readonly keyField?: string;
  /** The key as the lines show it (a pod's name for its key). Default: the key itself. */
  readonly keyLabel?: (key: string) => string;
  /** Field of the up line saying how long the key was down, ms. Default `downForMs`. */
  readonly downForField?: string;
  /** Clock, ms. Default `performance.now`. */
  readonly now?: () => number;
  /** Most lines per window over all keys. Default 20. */
  readonly maxLines?: number;
  /** Window of the line budget, ms. Default 60 000. */
  readonly windowMs?: number;
}

/** Per-key up/down state, logged on change. */
export interface StateChangeLog {
  /** `key` failed; `fields` (its reason class, a detail) go on the line when this is a change. */
  down(key: string, fields: object): void;
  /** `key` works (again). */
  up(key: string): void;
  /** A warn line about `key` that is no change of its state (the caller decides when), under the same budget. */
  note(key: string, fields: object, msg: string): void;
  /** Whether `key` is down now. */
  isDown(key: string): boolean;
  /** `key` is gone: forget its state (its next failure, or first up, is logged as new). */
  forget(key: string): void;
  /** The keys with a state, to find departed ones. */
  keys(): IterableIterator<string>;
}

/** Create a state-change log writing to `log`. */
export function createStateChangeLog(log: StateLogSink, o: StateChangeLogOptions): StateChangeLog {
  const now = o.now ?? (() => performance.now());
  const maxLines = o.maxLines ?? 20;
  const windowMs = o.windowMs ?? 60_000;
  const keyField = o.keyField ?? "pod";
  const downForField = o.downForField ?? "downForMs";
  const label = o.keyLabel ?? ((key: string) => key);
  /** Each known key: up (`undefined`) or down since (ms). Bounded by what the caller forgets (the fleet). */
  const states = new Map<string, number | undefined>();
  let windowStart = Number.NEGATIVE_INFINITY;
  let used = 0;
  let suppressed = 0;

  /** Whether the budget allows a line now; with the count of lines dropped before it. */
  const take = (): { ok: boolean; dropped: number } => {
    const t = now();
    if (t - windowStart >= windowMs) {
      windowStart = t;
      used = 0;
    }
    if (used >= maxLines) {
      suppressed += 1;
      return { ok: false, dropped: 0 };
    }
    used += 1;
    const dropped = suppressed;
    suppressed = 0;
    return { ok: true, dropped };
  };
  const write = (level: "warn" | "info", fields: object, msg: string): void => {
    const { ok, dropped } = take();
    if (ok) log[level](dropped > 0 ? { ...fields, suppressedLines: dropped } : fields, msg);
  };

  return {
    down(key, fields) {
      if (states.get(key) !== undefined) return;
      states.set(key, now());
      write("warn", { [keyField]: label(key), ...fields }, o.downMsg);
    },
    up(key) {
      const known = states.has(key);
      const since = states.get(key);
      if (known && since === undefined) return;
      states.set(key, undefined);
      if (since !== undefined) {
        write("info", { [keyField]: label(key), [downForField]: Math.round(now() - since) }, o.upMsg);
      } else if (o.firstUpMsg !== undefined) write("info", { [keyField]: label(key) }, o.firstUpMsg);
    },
    note(key, fields, msg) {
      write("warn", { [keyField]: label(key), ...fields }, msg);
    },
    isDown: (key) => states.get(key) !== undefined,
    forget(key) {
      states.delete(key);
    },
    keys: () => states.keys(),
  };
}
