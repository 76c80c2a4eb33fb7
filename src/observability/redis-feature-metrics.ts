/**
 * Metrics of the Redis-backed features (per-user and per-model limits, request traces) and of the Redis
 * connection they share. Kept apart from `metrics.ts` because every one of these answers the same question: what
 * did kvroute do while Redis was slow or gone (each feature degrades open, and these count it).
 *
 * @module
 */
import { Counter, Gauge } from "prom-client";
import type { Registry } from "prom-client";

/** The Redis-feature handles (part of `Metrics`). */
export interface RedisFeatureMetrics {
  /** Per-user limit checks by outcome (allowed, rpm_exceeded, tpm_exceeded, unknown_user, unavailable, cancelled). */
  readonly userLimitChecks: Counter<"outcome">;
  /**
   * Per-user TPM charges of completed requests admitted unreserved (Redis could not check them) by outcome (ok,
   * unavailable, bad_tokens); a reserved request's usage is a settlement (`tenantBudgetWrites`).
   */
  readonly userTpmCharges: Counter<"outcome">;
  /**
   * Tenant token budget checks by outcome (reserved, exceeded, unavailable: Redis could not read the budget and the
   * request went through unreserved); with and without Redis.
   */
  readonly tenantBudgetChecks: Counter<"outcome">;
  /** Tenant budget writes to Redis by outcome (settled, released, unavailable: a reservation or settlement failed). */
  readonly tenantBudgetWrites: Counter<"outcome">;
  /** Per-model RPS checks by outcome (allowed, exceeded, unavailable). */
  readonly modelRpsChecks: Counter<"outcome">;
  /** 1 while the Redis connection is up; 0 while it is down or Redis is not configured. */
  readonly redisUp: Gauge;
  /** Redis connection transitions (`up`, `down`): each `down` is an outage the Redis features degraded through. */
  readonly redisTransitions: Counter<"state">;
  /** Redis hang-breaker transitions: `open` (a command timed out; Redis is skipped), `closed` (it answers again). */
  readonly redisBreakerTransitions: Counter<"state">;
  /** Request-trace flushes by result (`written`, `deferred`: Redis failed and the windows wait in the backlog). */
  readonly traceFlushes: Counter<"result">;
  readonly traceUntracked: Counter;
}

/** Register the Redis-feature metrics. */
export function createRedisFeatureMetrics(registry: Registry): RedisFeatureMetrics {
  const registers = [registry];
  return {
    userLimitChecks: new Counter({
      name: "kvroute_user_limit_checks_total",
      help:
        "Per-user RPM/TPM checks by outcome (unavailable: Redis could not decide, the request went through; " +
        "cancelled: the stream ended during the check, nothing was counted or routed).",
      labelNames: ["outcome"],
      registers,
    }),
    userTpmCharges: new Counter({
      name: "kvroute_user_tpm_charges_total",
      help:
        "Per-user TPM charges of completed requests admitted unreserved by outcome (unavailable: the tokens were " +
        "not counted); reserved requests are settled (kvroute_tenant_budget_writes_total).",
      labelNames: ["outcome"],
      registers,
    }),
    tenantBudgetChecks: new Counter({
      name: "kvroute_tenant_budget_checks_total",
      help:
        "Tenant token budget checks by outcome (reserved; exceeded: answered 429; unavailable: Redis could not " +
        "read the budget, the request went through unreserved).",
      labelNames: ["outcome"],
      registers,
    }),
    tenantBudgetWrites: new Counter({
      name: "kvroute_tenant_budget_writes_total",
      help:
        "Tenant token budget settlements in Redis by outcome (settled with usage; released: no usage known; " +
        "unavailable: a reservation or settlement did not reach Redis).",
      labelNames: ["outcome"],
      registers,
    }),
    modelRpsChecks: new Counter({
      name: "kvroute_model_rps_checks_total",
      help: "Per-model RPS checks by outcome (unavailable: Redis could not count, the request went through).",
      labelNames: ["outcome"],
      registers,
    }),
    redisUp: new Gauge({
      name: "kvroute_redis_up",
      help: "1 while the Redis connection is up; 0 while it is down or Redis is not configured.",
      registers,
    }),
    redisTransitions: new Counter({
      name: "kvroute_redis_transitions_total",
      help: "Redis connection transitions by new state (up, down).",
      labelNames: ["state"],
      registers,
    }),
    redisBreakerTransitions: new Counter({
      name: "kvroute_redis_breaker_transitions_total",
      help: "Redis hang-breaker transitions (open: a command timed out, Redis is skipped; closed: it answers again).",
      labelNames: ["state"],
      registers,
    }),
    traceFlushes: new Counter({
      name: "kvroute_request_trace_flushes_total",
      help: "Request-trace flushes by result (written, deferred while Redis is down).",
      labelNames: ["result"],
      registers,
    }),
    traceUntracked: new Counter({
      name: "kvroute_request_trace_untracked_total",
      help: "Request-trace records not kept because 256 other models were being traced (client-invented names).",
      registers,
    }),
  };
}
