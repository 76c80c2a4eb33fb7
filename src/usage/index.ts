/**
 * Usage accounting shared with AIBrix: the outage-safe Redis connection, the GPU-optimizer request trace
 * and the output-length predictor.
 *
 * @module
 */
export * from "./redis";
export type { RedisBreakerState } from "./redis-breaker";
export * from "./request-trace";
export * from "./output-predictor";
export * from "./gpu-profile-store";
export * from "./user-limits";
export { createModelRpsLimiter } from "./model-rps";
export type { ModelRpsLimiter, ModelRpsOutcome } from "./model-rps";
export { createReplicaLoadSync } from "./replica-load";
export type { ReplicaLoadSync } from "./replica-load";
export { createUserAdmission } from "./user-admission";
export type { AdmissionObserver, UserAdmission } from "./user-admission";
export { createTenantBudgets } from "./tenant-budgets";
export type { BudgetObserver, TenantBudgetSettings, TenantBudgets } from "./tenant-budgets";
export { createTenantTokenWindows } from "./tenant-token-window";
export { createRedisTokenBudget } from "./redis-token-budget";
