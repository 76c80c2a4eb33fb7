/**
 * How a session's request ends in its trace: the finished request's record, or the error answered, as the
 * timeline's result. Only for traced requests (a session without a tracer never calls these).
 *
 * @module
 */
import type { RequestTimeline, TraceResult } from "../observability";
import type { RouteError } from "../errors";
import { httpStatusOf } from "./immediate-response";
import type { RequestRecord } from "./request-record";
import type { SessionClose } from "./close-reason";

/** The record's facts as a trace result (its times are relative to `startedMs`; the trace's are absolute). */
export function traceResultOf(r: RequestRecord, startedMs: number): TraceResult {
  return {
    status: r.status ?? 0,
    outcome: r.outcome,
    model: r.model,
    // The endpoint as metric labels name it (`name/rank-<r>` for a data-parallel rank).
    pod: r.endpoint ?? r.pod,
    strategy: r.strategy,
    fallbackReason: r.fallbackReason,
    fallbackTo: r.fallbackTo,
    prefillPod: r.pd?.prefillPod,
    prefillMs: r.pd?.prefillMs,
    pdSkipped: r.pd?.skipped,
    stream: r.stream,
    decidedMs: r.decisionMs === undefined ? undefined : startedMs + r.decisionMs,
    firstByteMs: r.firstByteMs === undefined ? undefined : startedMs + r.firstByteMs,
    endMs: startedMs + r.totalMs,
  };
}

/** `onFinished` for a traced request: the hooks first (metrics, log), then the trace. */
export function tracedFinish(
  timeline: RequestTimeline,
  startedMs: number,
  onFinished: ((r: RequestRecord) => void) | undefined,
): (r: RequestRecord) => void {
  return (r) => {
    onFinished?.(r);
    timeline.end(traceResultOf(r, startedMs));
  };
}

/** The request was answered with an immediate (error) response. */
export function endRejected(timeline: RequestTimeline, err: RouteError, nowMs: number): void {
  timeline.end({ status: httpStatusOf(err.code), outcome: "rejected", errorCode: err.code, endMs: nowMs });
}

/** The stream closed before the request was answered or finished (no-op when it already ended). */
export function endClosed(timeline: RequestTimeline, why: SessionClose, nowMs: number): void {
  timeline.end({ status: 0, outcome: why, endMs: nowMs });
}
