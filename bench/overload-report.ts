/**
 * What the overload scenario reports, from the driver's per-request records: per priority band the TTFT
 * percentiles (from the streamed response, as the client saw it, queueing in kvroute included), goodput (requests
 * whose first token came within the band's TTFT objective), drops by `x-kvroute-dropped-reason`, and the
 * accepted-but-lost count; over the run Jain's fairness index of the tokens served to the equal-weight tenants.
 * Pure functions of the records, so the arithmetic is tested without a fleet.
 *
 * @module
 */
import { percentiles } from "./e2e/run-workload";
import type { Percentiles, RequestRecord } from "./e2e/run-workload";

/** The header flow control names a drop's reason in. */
export const DROPPED_REASON_HEADER = "x-kvroute-dropped-reason";

/** One request as the report needs it: its record and its tenant and band. */
export interface OverloadRecord {
  readonly record: RequestRecord;
  readonly tenant: string;
  readonly band: string;
}

/** A band's figures over one run. */
export interface BandResult {
  readonly band: string;
  readonly priority: number;
  readonly ttftSloMs: number;
  readonly sent: number;
  readonly completed: number;
  /** TTFT of the completed requests. */
  readonly ttftMs: Percentiles;
  /** Completed with TTFT ≤ `ttftSloMs`. */
  readonly good: number;
  /** `good` per second of the sending window. */
  readonly goodputPerSecond: number;
  /** Drops by `x-kvroute-dropped-reason` (flow control's answers). */
  readonly drops: Readonly<Record<string, number>>;
  /** Not dropped by flow control, yet not completed: failures by kind (`errorKind[:status]`). */
  readonly lost: number;
  readonly lostKinds: Readonly<Record<string, number>>;
  /** The error messages of the first few lost requests (at most {@link LOST_EXAMPLES}), to tell why. */
  readonly lostExamples: readonly string[];
}

/** Lost requests whose error message a band keeps. */
export const LOST_EXAMPLES = 3;

/** Jain's index over the equal-weight tenants. */
export interface Fairness {
  /** Tokens (prompt + output) of each tenant's requests that completed within the window. */
  readonly servedTokens: Readonly<Record<string, number>>;
  /** (Σx)² / (n·Σx²): 1 when all equal, 1/n when one tenant got everything; 1 when nothing was served. */
  readonly jain: number;
}

/** Jain's fairness index of `xs` (1 for an empty or all-zero list: nobody was treated worse than anybody). */
export function jainIndex(xs: readonly number[]): number {
  const sum = xs.reduce((s, x) => s + x, 0);
  const squares = xs.reduce((s, x) => s + x * x, 0);
  return squares === 0 ? 1 : (sum * sum) / (xs.length * squares);
}

/** The drop reason of a record: flow control's header on a local reply, else undefined (accepted). */
export function droppedReason(r: RequestRecord): string | undefined {
  return r.ok ? undefined : r.localReplyHeaders?.[DROPPED_REASON_HEADER];
}

/** The figures of one band. `windowMs` is the sending window (first to last scheduled send). */
export function bandResult(
  band: { readonly name: string; readonly priority: number; readonly ttftSloMs: number },
  records: readonly OverloadRecord[],
  windowMs: number,
): BandResult {
  const mine = records.filter((r) => r.band === band.name).map((r) => r.record);
  const completed = mine.filter((r) => r.ok);
  const ttfts = completed.map((r) => r.ttftMs).filter((t): t is number => t !== undefined);
  const good = ttfts.filter((t) => t <= band.ttftSloMs).length;
  const drops: Record<string, number> = {};
  const lostKinds: Record<string, number> = {};
  const lostExamples: string[] = [];
  let lost = 0;
  for (const r of mine) {
    if (r.ok) continue;
    const reason = droppedReason(r);
    if (reason !== undefined) {
      drops[reason] = (drops[reason] ?? 0) + 1;
      continue;
    }
    lost++;
    const kind = `${r.errorKind ?? "internal"}${r.status === undefined ? "" : `:${r.status}`}`;
    lostKinds[kind] = (lostKinds[kind] ?? 0) + 1;
    if (lostExamples.length < LOST_EXAMPLES) lostExamples.push(`${kind}: ${r.errorMessage ?? ""}`);
  }
  return {
    band: band.name,
    priority: band.priority,
    ttftSloMs: band.ttftSloMs,
    sent: mine.length,
    completed: completed.length,
    ttftMs: percentiles(ttfts),
    good,
    goodputPerSecond: windowMs > 0 ? good / (windowMs / 1000) : 0,
    drops,
    lost,
    lostKinds,
    lostExamples,
  };
}

/**
 * Tokens served to each of `tenants` by `windowEndMs` (requests that completed by then, counted from their usage),
 * and Jain's index over them. Counting within the sending window measures the share of the fleet each tenant got
 * while all were competing; after it, a backlog drains with no competition left to be fair about.
 */
export function fairness(
  records: readonly OverloadRecord[],
  tenants: readonly string[],
  windowEndMs: number,
): Fairness {
  const servedTokens: Record<string, number> = Object.fromEntries(tenants.map((t) => [t, 0]));
  for (const { record: r, tenant } of records) {
    if (!r.ok || !(tenant in servedTokens) || r.sentMs + r.e2eMs > windowEndMs) continue;
    servedTokens[tenant] = (servedTokens[tenant] ?? 0) + (r.promptTokens ?? 0) + (r.outputTokens ?? 0);
  }
  return { servedTokens, jain: jainIndex(tenants.map((t) => servedTokens[t] ?? 0)) };
}
