/**
 * The contract of flow control's queue: where requests wait while their model's fleet is saturated, ordered by
 * priority band (strict), then fairly across flows (tenants) within a band, then within a flow first-come or
 * earliest-deadline. The queue is pure bookkeeping: no timers, no I/O, no knowledge of pods or saturation; time is
 * passed in on every call. The flow controller owns the timers, the saturation check and the promises; it asks the
 * queue what to dispatch next for a model, what expired, and what to shed.
 *
 * @module
 */

/** Why a queued (or arriving) request was dropped; the `x-kvroute-dropped-reason` values. */
export type DropReason = "queue-full" | "ttl" | "shed";

/** How flows share a band. */
export type FairnessPolicy =
  /** Flows take turns, one request each. */
  | "round-robin"
  /** The flow with the fewest tokens served over the decaying window goes next (token-weighted). */
  | "least-attained";

/** Order of one flow's own requests. */
export type OrderPolicy = "fcfs" | "edf";

/** One request as flow control sees it. */
export interface FlowRequest {
  /** The request id (logs, tests). */
  readonly id: string;
  readonly model: string;
  /** Band: higher is served first; below zero is sheddable (dropped first under pressure). */
  readonly priority: number;
  /** The tenant key, already bounded in length by whoever made it. */
  readonly flow: string;
  /** Estimated token work (prompt plus predicted output), ≥ 0: the fairness charge at dispatch. */
  readonly tokens: number;
  /** Absolute deadline on the queue's clock (ms) for `edf`; undefined sorts after every deadline. */
  readonly deadlineMs: number | undefined;
}

/** A request in the queue, with what the controller attached to it. */
export interface Queued<T> {
  readonly request: FlowRequest;
  readonly payload: T;
  /** When it was pushed, on the queue's clock (ms). */
  readonly enqueuedMs: number;
}

/** Bounds of a queue. At a bound the arriving request is refused, unless a sheddable one can make room. */
export interface FlowQueueLimits {
  /** Most queued requests over every model and band. */
  readonly maxQueued: number;
  /** Most queued requests in one band (over every model). */
  readonly maxQueuedPerBand: number;
  /** Longest a request may wait (ms); `expire` drops it after that with reason `ttl`. */
  readonly ttlMs: number;
}

/** The answer to a push. */
export type PushResult<T> =
  /** Queued; `shed` are sheddable requests (lower band) removed to make room, to be answered with `shed`. */
  | { readonly t: "queued"; readonly entry: Queued<T>; readonly shed: readonly Queued<T>[] }
  /** Not queued: the queue (or its band) is full and nothing lower could be shed. */
  | { readonly t: "rejected"; readonly reason: "queue-full" };

/** Flow control's queue. Every method is synchronous and O(bands + flows) or better per call. */
export interface FlowQueue<T> {
  push(request: FlowRequest, payload: T, nowMs: number): PushResult<T>;
  /** The request `pop(model)` would return, left in place. */
  peek(model: string, nowMs: number): Queued<T> | undefined;
  /** Remove and return the model's next request by band, fairness, then order; charges its flow `tokens`. */
  pop(model: string, nowMs: number): Queued<T> | undefined;
  /** Remove a request (its stream ended); false when it is no longer queued. */
  remove(entry: Queued<T>): boolean;
  /** Remove and return every request that has waited longer than `ttlMs`. */
  expire(nowMs: number): readonly Queued<T>[];
  /** When the next request will expire (ms, queue's clock), or undefined when empty. */
  nextExpiryMs(): number | undefined;
  /**
   * Correct a dispatched request's fairness charge with the tokens it really used. `chargedAtMs` (optional) is the
   * `nowMs` its `pop` was given: the charge then comes back out of the window slot it went into, and not at all once
   * that slot has left the window; without it, it comes out of the flow's newest tokens.
   */
  settle(flow: string, charged: number, actual: number, nowMs: number, chargedAtMs?: number): void;
  /** Requests queued for a model (0 when none). */
  length(model: string): number;
  /** Requests queued over all models. */
  readonly size: number;
  /** Queued requests per model and band, for gauges. */
  sizes(): readonly (readonly [model: string, band: number, queued: number])[];
}

/** Options of a flow queue (`createFlowQueue` in `flow-queue.ts`). */
export interface FlowQueueOptions {
  readonly limits: FlowQueueLimits;
  readonly fairness: FairnessPolicy;
  readonly order: OrderPolicy;
  /** Window of least-attained service (ms): tokens served longer ago than this no longer count. */
  readonly fairnessWindowMs: number;
  /** Most flows remembered for fairness; at the bound the least recently served is forgotten (restarts at zero). */
  readonly maxFlows: number;
}

/** The queue's factory, as `flow-queue.ts` exports it. */
export type CreateFlowQueue = <T>(options: FlowQueueOptions) => FlowQueue<T>;
