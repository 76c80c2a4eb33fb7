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
