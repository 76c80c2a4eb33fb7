/**
 * What the status page knows of routing that `/debug/state` does not: the last {@link RECENT_DECISIONS} finished
 * requests' decisions (a ring) and the sliding window of `decision-window.ts`. The wiring feeds it from the session
 * hooks the request reporter already runs: a decision's strategy and latency (a counter bump, as for the metric),
 * and the finished request's record, which is off the hot path.
 *
 * Nothing here holds prompt text or who sent the request: a record keeps pod, strategy, model, the decision's prefix
 * lookup (block counts, as the pick carries them), outcome and timings.
 * Model and strategy can be client input (InferencePool mode accepts any model; the `routing-strategy` header), so
 * both are bounded like every other echo of client text.
 *
 * @module
 */
import { echoClientText } from "../client-echo";
import { createDecisionWindow } from "./decision-window";
import type { WindowSummary } from "./decision-window";

/** Finished requests kept for the page. */
export const RECENT_DECISIONS = 50;
/** Longest model or strategy text kept, bytes (a model name or strategy list, never a prompt). */
const MAX_TEXT_BYTES = 96;

/**
 * The facts of a finished request the recorder reads: the part of the ext_proc request record it needs (the wiring
 * passes that record as is; admin does not import ext_proc).
 */
export interface FinishedRequestFacts {
  readonly model: string | undefined;
  readonly pod: string | undefined;
  readonly strategy: string | undefined;
  readonly fallbackReason: string | undefined;
  /** The decision's prefix lookup for the picked pod; both undefined when no strategy looked a prefix up. */
  readonly prefixHitBlocks?: number | undefined;
  readonly prefixLookupBlocks?: number | undefined;
  readonly decisionMs: number | undefined;
  /** Upstream HTTP status; undefined when none was seen (the outcome and close reason say what happened). */
  readonly status: number | undefined;
  readonly outcome: string;
  /** How the stream's end ended the request (`cancelled`, `reset`, ...), when it did. */
  readonly closeReason?: string | undefined;
}

/**
 * What the decision's prefix lookup found on the picked pod, in that pod's blocks: the leading prompt blocks it
 * holds of those looked up. `null` when no strategy of the plan looked a prefix up (e.g. `least-request` alone).
 */
export interface PrefixHit {
  readonly hitBlocks: number;
  readonly lookupBlocks: number;
}

/** One row of the recent-decisions table. */
export interface RecentDecision {
  /** Wall-clock time the request finished, ISO 8601. */
  readonly at: string;
  readonly pod: string | null;
  readonly strategy: string | null;
  readonly model: string | null;
  readonly prefix: PrefixHit | null;
  readonly decisionMs: number | null;
  readonly fallbackReason: string | null;
  /** Upstream HTTP status; `null` when no response status was seen (see `outcome` and `closeReason`). */
  readonly status: number | null;
  readonly outcome: string;
  /** How the stream's end ended the request, when it did (`cancelled`, `reset`, `shutdown`, ...). */
  readonly closeReason: string | null;
}

/** What the page shows of routing. */
export interface RoutingActivity {
  readonly window: WindowSummary;
  /** Newest first. */
  readonly recent: readonly RecentDecision[];
}

/** The recorder the wiring feeds and the status endpoint reads. */
export interface StatusRecorder {
  /** A decision by strategy spec `strategy` that took `seconds` (the session's `onDecision`). */
  onDecision(strategy: string, seconds: number): void;
  /** A finished request (the session's `onFinished`). */
  onFinished(r: FinishedRequestFacts): void;
  activity(): RoutingActivity;
}

/** The record's prefix lookup, when there was one (a lookup of zero blocks is not one: the lookup contract). */
function prefixHitOf(r: FinishedRequestFacts): PrefixHit | null {
  const hit = r.prefixHitBlocks;
  const looked = r.prefixLookupBlocks;
  if (hit === undefined || looked === undefined || !(looked > 0)) return null;
  return { hitBlocks: hit, lookupBlocks: looked };
}

const bounded = (text: string | undefined): string | null =>
  text === undefined ? null : echoClientText(text, MAX_TEXT_BYTES);

/** A recorder over monotonic clock `now` (window) and wall clock `wallNow` (row times), both ms. */
export function createStatusRecorder(now: () => number, wallNow: () => number = Date.now): StatusRecorder {
  const window = createDecisionWindow(now);
  // A fixed array used as a ring: `next` is where the next record goes.
  // Rows keep the finish time as a number; the ISO text is made when the page reads them (once a second), not on
  // every finished request.
  type Row = Omit<RecentDecision, "at"> & { readonly atMs: number };
  const ring: (Row | undefined)[] = new Array<Row | undefined>(RECENT_DECISIONS);
  let next = 0;
  // Strategy specs repeat (the default, a few header values): remember their bounded text, up to a bound.
  const specs = new Map<string, string>();
  const specText = (spec: string): string => {
    const known = specs.get(spec);
    if (known !== undefined) return known;
    const text = echoClientText(spec, MAX_TEXT_BYTES);
    if (specs.size < 256) specs.set(spec, text);
    return text;
  };
  return {
    onDecision(strategy, seconds) {
      window.decision(specText(strategy), seconds * 1000);
    },
    onFinished(r) {
      const prefix = prefixHitOf(r);
      if (prefix !== null) window.prefix(prefix.hitBlocks, prefix.lookupBlocks);
      if (r.fallbackReason !== undefined) window.fallback(specText(r.fallbackReason));
      ring[next] = {
        atMs: wallNow(),
        pod: bounded(r.pod),
        strategy: r.strategy === undefined ? null : specText(r.strategy),
        model: bounded(r.model),
        prefix,
        decisionMs: r.decisionMs === undefined ? null : Math.round(r.decisionMs * 1000) / 1000,
        fallbackReason: bounded(r.fallbackReason),
        status: r.status ?? null,
        outcome: r.outcome,
        closeReason: r.closeReason ?? null,
      };
      next = (next + 1) % RECENT_DECISIONS;
    },
    activity() {
      const recent: RecentDecision[] = [];
      for (let i = 1; i <= RECENT_DECISIONS; i++) {
        const row = ring[(next - i + RECENT_DECISIONS) % RECENT_DECISIONS];
        if (row === undefined) break;
        const { atMs, ...rest } = row;
        recent.push({ at: new Date(atMs).toISOString(), ...rest });
      }
      return { window: window.summary(), recent };
    },
  };
}
