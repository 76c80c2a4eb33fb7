/**
 * Tenant token budgets as the session's pre-route hook: per-tenant tokens per minute, reserved when a request is
 * admitted (its prompt's tokens plus its predicted output, `token-reservation.ts`) and settled with the usage its
 * response reports, so a burst cannot overshoot a budget by the output it has in flight.
 *
 * Whose budget a request spends, one per request:
 * - with Redis, a request naming a user (`user` header) spends its AIBrix user record's TPM (`tpm`, defaulted as
 *   AIBrix does), in AIBrix's key `aibrix:<name>_TPM_CURRENT:<bin>`, after AIBrix's RPM/TPM check at headers
 *   (`user-admission.ts`), which also supplies the counter value the reservation is checked against;
 * - otherwise its tenant's (`tenantOf`: the configured tenant header, the `user` header, the API key's digest, or
 *   `anonymous`) configured budget: the override for its key, else the default; 0 is no budget. With Redis its
 *   counter is `aibrix:kvroute-tenant:<key>_TPM_CURRENT:<bin>` (read at headers, `redis-token-budget.ts`); without,
 *   it is counted in this replica's memory (`tenant-token-window.ts`).
 *
 * A reservation that does not fit is refused with 429, AIBrix's `x-error-tpm-exceeded: true` header and the OpenAI
 * envelope (`rate_limit_exceeded`); a request whose reservation alone exceeds the budget is always refused. Redis
 * unavailable never refuses (fail-open, counted as `unavailable`); the usage of a request admitted unreserved is
 * still charged on completion, best-effort.
 *
 * @module
 */
import { echoClientText } from "../client-echo";
import { Code, RouteError } from "../errors";
import type { InferenceRequest } from "../request";
import { tenantOf } from "../routing";
import type { Admitted, PreRouteHook, PreRouteVerdict } from "../routing";
import type { BudgetWriteOutcome, RedisTokenBudget } from "./redis-token-budget";
import type { TenantTokenWindows } from "./tenant-token-window";
import { reservedTokens } from "./token-reservation";
import type { PredictOutput } from "./token-reservation";
import { includeUsageError, uncheckedAdmitted } from "./user-admission";
import type { Admission, UserAdmission } from "./user-admission";
import { effectiveLimits } from "./user-limits";

/** How a budget check ended (`kvroute_tenant_budget_checks_total{outcome}`). */
export type BudgetCheckOutcome = "reserved" | "exceeded" | "unavailable";

/** Metric callbacks; both optional, neither may throw. */
export interface BudgetObserver {
  onCheck?(outcome: BudgetCheckOutcome): void;
  onWrite?(outcome: BudgetWriteOutcome): void;
}

/** The configured budgets of tenants without a user record. */
export interface TenantBudgetSettings {
  /** Header naming the tenant (lower-case), if any (see `tenantOf`). */
  readonly tenantHeader: string | undefined;
  /** Tokens per minute of a tenant without an override; 0: no budget. */
  readonly defaultTpm: number;
  /** Tokens per minute by tenant key (`header:<v>`, `user:<v>`, `key:<digest>`, `anonymous`); 0: no budget. */
  readonly overrides: ReadonlyMap<string, number>;
}

/** Where the counts live: Redis (shared by replicas, user records on) or this replica's memory. */
export type BudgetStore =
  | { readonly t: "redis"; readonly users: UserAdmission; readonly ledger: RedisTokenBudget }
  | { readonly t: "memory"; readonly windows: TenantTokenWindows };

/** Options of {@link createTenantBudgets}. */
export interface TenantBudgetsOptions {
  readonly settings: TenantBudgetSettings;
  readonly store: BudgetStore;
  /** The output predictor's guess (undefined without history). */
  readonly predict?: PredictOutput;
  readonly observer?: BudgetObserver;
}

/** The hook, and a way to wait for its Redis writes. */
export interface TenantBudgets extends PreRouteHook {
  /** Resolves once every Redis write started so far (reservations, settlements, charges) has finished. */
  settled(): Promise<void>;
}

/** Prefix of the Redis counter of a tenant without a user record, so it never shares a user's counter. */
export const TENANT_COUNTER_PREFIX = "kvroute-tenant:";

/** A reservation attempt: made (with how to settle it) or refused (with the tokens already in use). */
type Reserve =
  | { readonly ok: true; readonly settle: (actualTokens: number | undefined) => void }
  | { readonly ok: false; readonly used: number };

/** What a reserving admission is made of. */
interface Reserving {
  /** Who is named in a refusal: `user: <name>` or `tenant: <key>`. */
  readonly who: string;
  readonly budget: number;
  readonly reserve: (tokens: number) => Reserve;
  /** A refusal that comes first (AIBrix's include_usage rule). */
  readonly before?: (request: InferenceRequest) => RouteError | undefined;
  readonly chargeTo: string | undefined;
  readonly responseHeaders: readonly (readonly [string, string])[];
}

/** The 429 of a reservation that does not fit. */
export function budgetExceeded(who: string, budget: number, reserving: number, used: number): RouteError {
  return new RouteError(
    Code.RateLimited,
    `${who} has exceeded TPM: ${budget} (this request reserves ${reserving} tokens, ${used} in use)`,
    { errorHeader: ["x-error-tpm-exceeded", "true"], openaiCode: "rate_limit_exceeded" },
  );
}

/** Reservations against a Redis counter read as `seen` at headers. */
function fromRedis(ledger: RedisTokenBudget, counter: string, seen: number, budget: number) {
  return (tokens: number): Reserve => {
    const made = ledger.reserve(counter, seen, tokens, budget);
    return made.ok ? { ok: true, settle: (t) => ledger.settle(made.reservation, t) } : made;
  };
}

/** Create the hook over `store`. */
export function createTenantBudgets(opts: TenantBudgetsOptions): TenantBudgets {
  const { settings, store, predict, observer } = opts;
  // Without a configured budget only user records limit: the tenant key (an API key's digest) is not even computed.
  const anyTenantBudget = settings.defaultTpm > 0 || [...settings.overrides.values()].some((tpm) => tpm > 0);

  function reserving(r: Reserving): Admitted {
    let settle: ((actualTokens: number | undefined) => void) | undefined;
    return {
      refuse(request) {
        const first = r.before?.(request);
        if (first) return first;
        const tokens = reservedTokens(request, predict);
        const made = r.reserve(tokens);
        if (!made.ok) {
          observer?.onCheck?.("exceeded");
          return budgetExceeded(r.who, r.budget, tokens, made.used);
        }
        observer?.onCheck?.("reserved");
        settle = made.settle;
        return undefined;
      },
      finished(totalTokens) {
        const s = settle;
        settle = undefined;
        s?.(totalTokens);
      },
      chargeTo: r.chargeTo,
      responseHeaders: r.responseHeaders,
    };
  }

  const admitted = (a: Admitted): PreRouteVerdict => ({ t: "admitted", admitted: a });

  /** A user's verdict (Redis on): AIBrix's check at headers, then a reservation from the record's TPM. */
  function userVerdict(
    a: Admission,
    userName: string,
    s: Extract<BudgetStore, { t: "redis" }>,
    signal: AbortSignal | undefined,
  ): PreRouteVerdict {
    switch (a.t) {
      case "rejected":
        return { t: "rejected", error: a.error };
      case "unchecked":
        // An ended stream's verdict is never read: only a real outage is counted.
        if (signal?.aborted !== true) observer?.onCheck?.("unavailable");
        return admitted(uncheckedAdmitted(userName, s.users.charge));
      case "allowed": {
        const { name } = a.user;
        const budget = effectiveLimits(a.user).tpm;
        return admitted(
          reserving({
            who: `user: ${echoClientText(name)}`,
            budget,
            reserve: fromRedis(s.ledger, name, a.tpmSeen, budget),
            before: (request) => includeUsageError(a, request),
            chargeTo: name,
            responseHeaders: [["x-update-rpm", String(a.rpmAfter)]],
          }),
        );
      }
    }
  }

  /** A configured tenant's verdict with Redis: its counter as read at headers, reserved against once parsed. */
  function redisTenantVerdict(
    tenant: string,
    budget: number,
    ledger: RedisTokenBudget,
  ): Promise<PreRouteVerdict> {
    const counter = `${TENANT_COUNTER_PREFIX}${tenant}`;
    return ledger.read(counter).then((seen): PreRouteVerdict => {
      if (!seen.ok) {
        observer?.onCheck?.("unavailable");
        return admitted({
          finished: (t) => (t === undefined ? undefined : ledger.charge(counter, t)),
          chargeTo: undefined,
          responseHeaders: [],
        });
      }
      return admitted(
        reserving({
          who: `tenant: ${echoClientText(tenant)}`,
          budget,
          reserve: fromRedis(ledger, counter, seen.value, budget),
          chargeTo: undefined,
          responseHeaders: [],
        }),
      );
    });
  }

  /** A configured tenant's verdict without Redis: reserved in this replica's windows once parsed. */
  function memoryTenantVerdict(tenant: string, budget: number, windows: TenantTokenWindows): PreRouteVerdict {
    return admitted(
      reserving({
        who: `tenant: ${echoClientText(tenant)}`,
        budget,
        reserve: (tokens) => {
          const made = windows.reserve(tenant, tokens, budget);
          return made.ok ? { ok: true, settle: (t) => windows.settle(made.reservation, t) } : made;
        },
        chargeTo: undefined,
        responseHeaders: [],
      }),
    );
  }

  return {
    beforeRoute(headers, signal) {
      if (store.t === "redis") {
        // The `user` header names an AIBrix record: its limits apply, as without budgets.
        const userName = headers.get("user")?.trim();
        if (userName)
          return store.users.begin(userName, signal).then((a) => userVerdict(a, userName, store, signal));
      }
      if (!anyTenantBudget) return undefined;
      const tenant = tenantOf(headers, settings.tenantHeader);
      const budget = settings.overrides.get(tenant) ?? settings.defaultTpm;
      if (budget <= 0) return undefined;
      return store.t === "redis"
        ? redisTenantVerdict(tenant, budget, store.ledger).catch(failedOpen)
        : Promise.resolve(memoryTenantVerdict(tenant, budget, store.windows));
    },
    async settled() {
      if (store.t === "redis") await Promise.all([store.ledger.settled(), store.users.settled()]);
    },
  };

  /** A failure inside this module (a bug): fail open, counted. */
  function failedOpen(): PreRouteVerdict {
    observer?.onCheck?.("unavailable");
    return admitted({ chargeTo: undefined, responseHeaders: [] });
  }
}
