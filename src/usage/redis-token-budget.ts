/**
 * Tenant token budgets in Redis, in AIBrix's TPM keys (`aibrix:<name>_TPM_CURRENT:<bin>`, one-minute bins, see
 * `rate-window.ts`), so kvroute replicas (and AIBrix gateways) sharing a Redis share the budgets:
 *
 * - **read** at request headers: `GET` the tenant's current bin (the I/O overlaps the body upload);
 * - **reserve** once the body is parsed, synchronously: the request is refused when what was read, plus this
 *   replica's reservations still on their way to Redis, plus its own reservation exceeds the budget; else it is
 *   admitted and its reservation is sent (`INCRBY` + `EXPIRE 60`, not awaited);
 * - **settle** on completion: `INCRBY` of `actual − reserved` (negative when the request used less) into the
 *   reservation's bin while that bin is still the current minute; a request that fails or goes away before its usage
 *   is known gives the whole reservation back (`INCRBY −reserved`). The minute-boundary rule: once the minute of
 *   the reservation is over, its bin is never read again before it expires, so a surplus is dropped, and a shortfall
 *   (`actual > reserved`) is charged to the current bin, where AIBrix would have charged the whole usage.
 *
 * What "in use" is, on one replica: the larger of the value read at headers and the last value Redis answered to
 * this replica's own writes of that bin (an `INCRBY` reply is the counter after it), plus its reservations still
 * on their way. So a burst on one replica cannot overshoot, even when its reads all left before the first
 * reservation landed. What this does not guarantee, stated: replicas see each other's reservations only through
 * their reads at headers, so requests admitted by different replicas within one Redis round trip of each other may
 * together overshoot by their reservations. Where the two views disagree (a read older than a settlement) the
 * larger wins: it errs closed, for one request's time at most. Redis unavailable never blocks a request (fail-open, counted by the caller): a failed read admits the
 * request unreserved, a failed reservation leaves it unreserved (its settlement then charges its whole usage,
 * best-effort, as AIBrix's completion charge does).
 *
 * @module
 */
import { createRateWindow } from "./rate-window";
import type { RateWindowResult } from "./rate-window";
import type { RedisConnection } from "./redis";
import { tpmCounter, USER_LIMITER_NAME, USER_WINDOW_SECONDS } from "./user-limits";

/** How a settlement (or a reservation write) ended, as counted. */
export type BudgetWriteOutcome = "settled" | "released" | "unavailable";

/** A reservation sent to Redis; settled once. */
export interface RedisReservation {
  readonly counter: string;
  readonly tokens: number;
  /** Wall clock of the reservation, ms: it names the bin. */
  readonly atMs: number;
  /** Resolves true once the reservation reached Redis, false when it could not. */
  readonly landed: Promise<boolean>;
  settled: boolean;
}

/** Outcome of {@link RedisTokenBudget.reserve}. */
export type RedisReserve =
  | { readonly ok: true; readonly reservation: RedisReservation }
  | { readonly ok: false; readonly used: number };

/** Options of {@link createRedisTokenBudget}. */
export interface RedisTokenBudgetOptions {
  readonly redis: RedisConnection;
  /** Wall clock, Unix epoch ms (default `Date.now`). */
  readonly now?: () => number;
  /** Every write's outcome (metrics). Must not throw. */
  readonly onWrite?: (outcome: BudgetWriteOutcome) => void;
}

/** The Redis side of tenant budgets. `counter` is the TPM counter's name (`<name>` in the key). */
export interface RedisTokenBudget {
  /** `GET` the counter's current bin. Resolves, never rejects. */
  read(counter: string): Promise<RateWindowResult>;
  /** Admit and reserve `tokens` when `seen` + this replica's reservations in flight + `tokens` ≤ `budget`. */
  reserve(counter: string, seen: number, tokens: number, budget: number): RedisReserve;
  /** Replace the reservation with `actualTokens` (undefined: release it whole). Fire-and-forget; once only. */
  settle(reservation: RedisReservation, actualTokens: number | undefined): void;
  /** Charge `tokens` to the counter's current bin (a request admitted unreserved). Fire-and-forget. */
  charge(counter: string, tokens: number): void;
  /** Resolves once every write started so far has finished (shutdown before closing Redis; tests). */
  settled(): Promise<void>;
}

/** Bound on the remembered counter answers (one per tenant and minute written by this replica). */
const MAX_ANSWERED_KEYS = 10_000;

/** The minute (window) a wall-clock time falls in: two times in the same minute address the same bin. */
const minuteOf = (ms: number): number => Math.floor(Math.trunc(ms / 1000) / USER_WINDOW_SECONDS);

/** Create the Redis side of tenant budgets over an outage-safe connection. */
export function createRedisTokenBudget(opts: RedisTokenBudgetOptions): RedisTokenBudget {
  const now = opts.now ?? Date.now;
  const window = createRateWindow({
    redis: opts.redis,
    name: USER_LIMITER_NAME,
    windowSeconds: USER_WINDOW_SECONDS,
  });
  // Reservations sent and not answered yet, by full key (counter and bin): an entry lives one round trip, so the
  // map is bounded by the requests in flight.
  const inFlight = new Map<string, number>();
  // The counter each key had after this replica's last write to it, as Redis answered. Keyed by bin, so an entry is
  // useful for a minute; bounded, forgetting the least recently written key (then only the read at headers counts).
  const answered = new Map<string, number>();
  const remember = (key: string, value: number): void => {
    answered.delete(key);
    if (answered.size >= MAX_ANSWERED_KEYS) {
      const oldest = answered.keys().next();
      if (oldest.done !== true) answered.delete(oldest.value);
    }
    answered.set(key, value);
  };
  const pending = new Set<Promise<unknown>>();

  const track = <T>(p: Promise<T>): Promise<T> => {
    const tracked = p.finally(() => pending.delete(tracked));
    pending.add(tracked);
    return p;
  };
  const adjust = (key: string, by: number): void => {
    const n = (inFlight.get(key) ?? 0) + by;
    if (n > 0) inFlight.set(key, n);
    else inFlight.delete(key);
  };
  const write = (counter: string, by: number, atMs: number, outcome: BudgetWriteOutcome): void => {
    void track(
      window.incr(tpmCounter(counter), by, atMs).then(
        (r) => {
          if (r.ok) remember(window.keyFor(tpmCounter(counter), atMs), r.value);
          opts.onWrite?.(r.ok ? outcome : "unavailable");
        },
        () => opts.onWrite?.("unavailable"),
      ),
    );
  };

  return {
    read: (counter) => window.get(tpmCounter(counter), now()),
    reserve(counter, seen, tokens, budget) {
      const atMs = now();
      const key = window.keyFor(tpmCounter(counter), atMs);
      const used = Math.max(seen, answered.get(key) ?? 0) + (inFlight.get(key) ?? 0);
      if (used + tokens > budget) return { ok: false, used };
      adjust(key, tokens);
      // The answer and the end of the in-flight count in one callback: the tokens are counted once all along.
      const landed = track(
        window.incr(tpmCounter(counter), tokens, atMs).then(
          (r) => {
            adjust(key, -tokens);
            if (r.ok) remember(key, r.value);
            else opts.onWrite?.("unavailable");
            return r.ok;
          },
          () => {
            adjust(key, -tokens);
            opts.onWrite?.("unavailable");
            return false;
          },
        ),
      );
      return { ok: true, reservation: { counter, tokens, atMs, landed, settled: false } };
    },
    settle(r, actualTokens) {
      if (r.settled) return;
      r.settled = true;
      const actual = actualTokens ?? 0;
      const outcome: BudgetWriteOutcome = actualTokens === undefined ? "released" : "settled";
      void track(
        r.landed.then((landed) => {
          const at = now();
          // The reservation never reached Redis: charge the whole usage now (AIBrix's completion charge).
          if (!landed) return actual > 0 ? write(r.counter, actual, at, outcome) : undefined;
          const diff = actual - r.tokens;
          if (minuteOf(at) === minuteOf(r.atMs))
            return diff === 0 ? opts.onWrite?.(outcome) : write(r.counter, diff, r.atMs, outcome);
          // The reservation's minute is over: only a shortfall still counts, in the current minute.
          return diff > 0 ? write(r.counter, diff, at, outcome) : opts.onWrite?.(outcome);
        }),
      );
    },
    charge(counter, tokens) {
      if (Number.isSafeInteger(tokens) && tokens > 0) write(counter, tokens, now(), "settled");
    },
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
