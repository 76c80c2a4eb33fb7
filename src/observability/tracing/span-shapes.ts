/**
 * What spans a finished request becomes, as plain data: names, times and attributes. Kept apart from the SDK calls
 * so the shape is one readable table (docs/tracing.md lists the same names).
 *
 * @module
 */
import type { Attributes } from "@opentelemetry/api";
import { ATTR_HTTP_RESPONSE_STATUS_CODE } from "@opentelemetry/semantic-conventions";
import type { FinishedTimeline, TracePhase, TraceResult } from "./request-timeline";

/** Longest attribute value exported (a model name is client text). */
export const SPAN_ATTRIBUTE_VALUE_LIMIT = 256;

/** One child span of `kvroute.request`. */
export interface ChildSpan {
  readonly name: string;
  readonly startMs: number;
  readonly endMs: number;
  readonly attributes: Attributes;
  readonly events: readonly { readonly name: string; readonly atMs: number }[];
  readonly failed: boolean;
}

/** Phases shown as child spans, in order: span name, start mark, end mark. */
const PHASE_SPANS: readonly (readonly [string, TracePhase, TracePhase])[] = [
  ["kvroute.parse", "parse-start", "parse-end"],
  ["kvroute.tokenize", "prompt-start", "prompt-end"],
  ["kvroute.queue", "queue-start", "queue-end"],
  ["kvroute.pick", "pick-start", "pick-end"],
];

/** Attributes set only when known (OTel drops undefined values anyway; this keeps the object small). */
function defined(entries: Record<string, string | number | boolean | undefined>): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v;
  return out;
}

/** The root span's attributes: what the request was and how it ended. */
export function rootAttributes(t: FinishedTimeline): Attributes {
  const r = t.result;
  const hit = t.prefixHit;
  return defined({
    "kvroute.request_id": t.requestId,
    "kvroute.model": r.model,
    "kvroute.strategy": r.strategy,
    "kvroute.pod": r.pod,
    "kvroute.fallback.reason": r.fallbackReason,
    "kvroute.fallback.to": r.fallbackTo,
    "kvroute.pd.prefill_pod": r.prefillPod,
    "kvroute.pd.prefill_ms": r.prefillMs,
    "kvroute.pd.skipped": r.pdSkipped,
    "kvroute.outcome": r.outcome,
    "kvroute.error.code": r.errorCode,
    "kvroute.stream": r.stream,
    [ATTR_HTTP_RESPONSE_STATUS_CODE]: r.status === 0 ? undefined : r.status,
    "kvroute.prefix.hit_blocks": hit?.blocks,
    "kvroute.prefix.prompt_blocks": hit?.promptBlocks,
    "kvroute.prefix.hit_ratio":
      hit === undefined || hit.promptBlocks === 0 ? undefined : hit.blocks / hit.promptBlocks,
  });
}

/** A request that failed on kvroute's or the upstream's side (5xx, no upstream answer, an internal error). */
export function rootFailed(r: TraceResult): boolean {
  return r.status >= 500 || r.outcome === "upstream-error" || r.outcome === "error";
}

/** The child spans of a finished timeline: each phase that started, and the response once decided. */
export function childSpans(t: FinishedTimeline): ChildSpan[] {
  const r = t.result;
  const out: ChildSpan[] = [];
  for (const [name, from, to] of PHASE_SPANS) {
    const startMs = t.marks[from];
    if (startMs === undefined) continue;
    // A phase cut short (the stream ended, the queue timed out) ends with the request.
    const endMs = t.marks[to] ?? r.endMs;
    const attributes: Attributes =
      name === "kvroute.pick"
        ? defined({
            "kvroute.pod": r.pod,
            "kvroute.strategy": r.strategy,
            "kvroute.fallback.reason": r.fallbackReason,
          })
        : {};
    out.push({ name, startMs, endMs, attributes, events: [], failed: t.marks[to] === undefined });
  }
  if (r.decidedMs !== undefined) {
    out.push({
      name: "kvroute.response",
      startMs: r.decidedMs,
      endMs: Math.max(r.decidedMs, r.endMs),
      attributes: defined({
        [ATTR_HTTP_RESPONSE_STATUS_CODE]: r.status === 0 ? undefined : r.status,
        "kvroute.outcome": r.outcome,
      }),
      events: r.firstByteMs === undefined ? [] : [{ name: "first-byte", atMs: r.firstByteMs }],
      failed: rootFailed(r),
    });
  }
  return out;
}
