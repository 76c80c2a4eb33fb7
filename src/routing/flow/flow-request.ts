/**
 * What flow control reads from a request's headers: its priority band, its deadline for earliest-deadline order, and
 * its tenant (the flow). Headers are client input: each is length-bounded and parsed in linear time, and a malformed
 * priority or SLO is a clear 400 rather than a silent default, so a client learns its header was not honoured.
 *
 * Priority, in order: `x-kvroute-priority` (an integer in [{@link MIN_PRIORITY}, {@link MAX_PRIORITY}]), else the
 * priority configured for the `x-gateway-inference-objective` it names (an unknown objective counts as 0, as the
 * inference extension treats a request without an objective), else 0. Below zero is sheddable.
 *
 * These headers are trusted as sent: a gateway in front of kvroute that must not let clients raise their own priority
 * should set or strip them.
 *
 * @module
 */
import { echoClientText } from "../../client-echo";
import { Code, RouteError } from "../../errors";
import type { HeaderView } from "../framework";

/** Explicit priority band header. */
export const PRIORITY_HEADER = "x-kvroute-priority";
/** The Gateway API Inference Extension's objective header (an InferenceObjective's name). */
export const OBJECTIVE_HEADER = "x-gateway-inference-objective";
/** Time-to-first-token SLO (ms) from arrival: the request's deadline for `edf` order. */
export const TTFT_SLO_HEADER = "x-kvroute-ttft-slo-ms";
/** Lowest band. Bands are map keys in the queue, so their number is bounded by this range. */
export const MIN_PRIORITY = -100;
/** Highest band. */
export const MAX_PRIORITY = 100;
/** Longest TTFT SLO accepted (one day), ms. */
export const MAX_TTFT_SLO_MS = 86_400_000;

/** A signed integer of at most 4 characters after trimming (the range check does the rest). */
const PRIORITY_TEXT = /^[+-]?[0-9]{1,3}$/;
/** A positive integer of at most 9 digits. */
const SLO_TEXT = /^[0-9]{1,9}$/;
/** Longest header value looked at; longer is malformed (priority, SLO) or unknown (objective). */
const MAX_HEADER_CHARS = 256;

function badHeader(name: string, value: string, rule: string): RouteError {
  return new RouteError(
    Code.BadRequest,
    `header ${name}: ${rule}, got ${JSON.stringify(echoClientText(value))}`,
    {
      errorHeader: ["x-error-flow-control-header", name],
    },
  );
}

/**
 * The priority of a request. `objectives` maps an objective name to its configured priority.
 *
 * @throws RouteError `Code.BadRequest` when `x-kvroute-priority` is not an integer in range.
 */
export function priorityOf(headers: HeaderView, objectives: ReadonlyMap<string, number>): number {
  const raw = headers.get(PRIORITY_HEADER);
  if (raw !== undefined) {
    const text = raw.length <= MAX_HEADER_CHARS ? raw.trim() : raw;
    const n = PRIORITY_TEXT.test(text) ? Number(text) : Number.NaN;
    if (!(n >= MIN_PRIORITY && n <= MAX_PRIORITY))
      throw badHeader(PRIORITY_HEADER, raw, `want an integer from ${MIN_PRIORITY} to ${MAX_PRIORITY}`);
    return n;
  }
  const objective = headers.get(OBJECTIVE_HEADER);
  if (objective === undefined || objective.length > MAX_HEADER_CHARS) return 0;
  return objectives.get(objective.trim()) ?? 0;
}

/**
 * The request's absolute deadline on `nowMs`'s clock, from its TTFT SLO header; undefined when it has none.
 *
 * @throws RouteError `Code.BadRequest` when the header is not a whole number of ms in (0, {@link MAX_TTFT_SLO_MS}].
 */
export function deadlineOf(headers: HeaderView, nowMs: number): number | undefined {
  const raw = headers.get(TTFT_SLO_HEADER);
  if (raw === undefined) return undefined;
  const text = raw.length <= MAX_HEADER_CHARS ? raw.trim() : raw;
  const ms = SLO_TEXT.test(text) ? Number(text) : Number.NaN;
  if (!(ms > 0 && ms <= MAX_TTFT_SLO_MS))
    throw badHeader(TTFT_SLO_HEADER, raw, `want a whole number of ms from 1 to ${MAX_TTFT_SLO_MS}`);
  return nowMs + ms;
}

/**
 * Parse `--flow-objective-priorities` text (`name=priority,name=priority`) into a map. Done once at start.
 *
 * @throws Error naming the bad entry.
 */
export function parseObjectivePriorities(text: string): ReadonlyMap<string, number> {
  const out = new Map<string, number>();
  for (const part of text.split(",")) {
    const entry = part.trim();
    if (entry === "") continue;
    const eq = entry.lastIndexOf("=");
    const name = entry.slice(0, eq).trim();
    const value = entry.slice(eq + 1).trim();
    const n = PRIORITY_TEXT.test(value) ? Number(value) : Number.NaN;
    if (eq <= 0 || name === "" || !(n >= MIN_PRIORITY && n <= MAX_PRIORITY))
      throw new Error(
        `objective priority ${JSON.stringify(entry)}: want name=priority with priority from ${MIN_PRIORITY} to ${MAX_PRIORITY}`,
      );
    out.set(name, n);
  }
  return out;
}
