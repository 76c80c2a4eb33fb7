/**
 * Tenant token budgets without Redis: each kvroute replica counts, in memory, the tokens each tenant reserved or
 * used over the last minute, and admits a request only when its reservation fits the tenant's budget.
 *
 * The window slides in buckets: time is cut into {@link BUDGET_BUCKET_MS} buckets and a tenant's count is the sum
 * of its last {@link BUDGET_BUCKETS} buckets (the current one included), so tokens count for between 50 and 60 s.
 * A reservation lands in the current bucket; its settlement adds `actual − reserved` to that same bucket while the
 * bucket is still inside the window (a count never goes below 0). Once the bucket has left the window the
 * reservation no longer counts anyway: a shortfall (`actual > reserved`) is then added to the current bucket, and a
 * surplus is dropped (there is nothing left to give back).
 *
 * Bounded: at most `maxTenants` tenants (keys are client input). Touching a new tenant at the bound forgets the
 * least recently touched one; if it comes back it starts from zero, i.e. at the bound the budget errs open for the
 * forgotten tenant, never closed for anyone. A settlement of a forgotten tenant's reservation finds another record
 * and only charges its shortfall to the current bucket.
 *
 * Synchronous and single-threaded, like the event loop that calls it: a check and its reservation cannot be
 * interleaved with another request's, so a burst on one replica cannot overshoot the budget.
 *
 * @module
 */

/** Bucket length of the in-process budget window, ms. */
export const BUDGET_BUCKET_MS = 10_000;
/** Buckets per window: 6 × 10 s = one minute, as the Redis (AIBrix) TPM window. */
export const BUDGET_BUCKETS = 6;
/** Default bound on the tenants counted per replica. */
export const DEFAULT_MAX_BUDGET_TENANTS = 10_000;

/** One tenant's buckets, indexed by `bucket % BUDGET_BUCKETS`; `epochs[i]` says which bucket slot `i` holds. */
interface TenantCounts {
  readonly epochs: number[];
  readonly tokens: number[];
}

/** A reservation made by {@link TenantTokenWindows.reserve}, to be settled (or released) once. */
export interface WindowReservation {
  readonly tenant: string;
  readonly tokens: number;
  /** The bucket (`floor(ms / BUDGET_BUCKET_MS)`) it was added to. */
  readonly bucket: number;
  /** The tenant's record at the time: a tenant forgotten and counted again is another record. */
  readonly counts: TenantCounts;
  settled: boolean;
}

/** Outcome of a reservation: made, or refused with the tokens the tenant already holds in the window. */
export type WindowReserve =
  | { readonly ok: true; readonly reservation: WindowReservation }
  | { readonly ok: false; readonly used: number };

/** Options of {@link createTenantTokenWindows}. */
export interface TenantTokenWindowsOptions {
  /** Wall or monotonic clock, ms (default `Date.now`). A clock that steps back is treated as standing still. */
  readonly now?: () => number;
  /** Most tenants counted (≥ 1); default {@link DEFAULT_MAX_BUDGET_TENANTS}. */
  readonly maxTenants?: number;
}

/** Per-tenant token counts over the last minute, in memory. */
export interface TenantTokenWindows {
  /** Tokens `tenant` holds in the window now; 0 when unknown. */
  used(tenant: string): number;
  /** Reserve `tokens` for `tenant` when `used + tokens <= budget`; otherwise nothing changes. */
  reserve(tenant: string, tokens: number, budget: number): WindowReserve;
  /**
   * Replace a reservation with the tokens actually used (`undefined`: none are known, release it whole). A second
   * settlement of the same reservation does nothing.
   */
  settle(reservation: WindowReservation, actualTokens: number | undefined): void;
  /** Tenants counted (for tests and the bound). */
  size(): number;
}

/** Create the in-process windows. */
export function createTenantTokenWindows(opts: TenantTokenWindowsOptions = {}): TenantTokenWindows {
  const clock = opts.now ?? Date.now;
  const maxTenants = Math.max(1, opts.maxTenants ?? DEFAULT_MAX_BUDGET_TENANTS);
  // Map order is recency: a touched tenant is re-inserted at the end; the first one is the least recent.
  const tenants = new Map<string, TenantCounts>();
  let lastBucket = 0;

  const bucketNow = (): number => {
    lastBucket = Math.max(lastBucket, Math.floor(clock() / BUDGET_BUCKET_MS));
    return lastBucket;
  };
  const live = (bucket: number, now: number): boolean => bucket > now - BUDGET_BUCKETS && bucket <= now;

  function sum(c: TenantCounts, now: number): number {
    let total = 0;
    for (let i = 0; i < BUDGET_BUCKETS; i++) if (live(c.epochs[i]!, now)) total += c.tokens[i]!;
    return total;
  }

  /** The tenant's record, most recent from now on; created (forgetting the least recent at the bound) if absent. */
  function touch(tenant: string): TenantCounts {
    let c = tenants.get(tenant);
    if (c !== undefined) tenants.delete(tenant);
    else {
      if (tenants.size >= maxTenants) {
        const oldest = tenants.keys().next();
        if (oldest.done !== true) tenants.delete(oldest.value);
      }
      c = {
        epochs: new Array<number>(BUDGET_BUCKETS).fill(-1),
        tokens: new Array<number>(BUDGET_BUCKETS).fill(0),
      };
    }
    tenants.set(tenant, c);
    return c;
  }

  function add(c: TenantCounts, bucket: number, tokens: number): void {
    const i = bucket % BUDGET_BUCKETS;
    if (c.epochs[i] !== bucket) {
      c.epochs[i] = bucket;
      c.tokens[i] = 0;
    }
    c.tokens[i] = Math.max(0, c.tokens[i]! + tokens);
  }

  return {
    used(tenant) {
      const c = tenants.get(tenant);
      return c === undefined ? 0 : sum(c, bucketNow());
    },
    reserve(tenant, tokens, budget) {
      const now = bucketNow();
      const c = touch(tenant);
      const used = sum(c, now);
      if (used + tokens > budget) return { ok: false, used };
      add(c, now, tokens);
      return { ok: true, reservation: { tenant, tokens, bucket: now, counts: c, settled: false } };
    },
    settle(r, actualTokens) {
      if (r.settled) return;
      r.settled = true;
      const actual = actualTokens ?? 0;
      const now = bucketNow();
      const c = tenants.get(r.tenant);
      const i = r.bucket % BUDGET_BUCKETS;
      if (c === r.counts && live(r.bucket, now) && c.epochs[i] === r.bucket) {
        add(c, r.bucket, actual - r.tokens);
        return;
      }
      // The reservation's bucket left the window (or its tenant was forgotten): only a shortfall still counts.
      if (actual > r.tokens) add(touch(r.tenant), now, actual - r.tokens);
    },
    size: () => tenants.size,
  };
}
