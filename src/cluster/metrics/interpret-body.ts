/**
 * From a scraped body to {@link EngineMetrics}, refusing what would mislead routing:
 *
 * - a body with no well-formed sample at all is `malformed`;
 * - a body cut by the parser's sample or line cap is `malformed` as a whole: the catalogue sums and averages
 *   series (one per DP engine), and a page cut part-way through a family would hand out a partial sum or one
 *   engine's value as the mean — never a partial aggregate;
 * - a sample whose own timestamp is older than the staleness bound (`--metrics-stale-after-ms`) relative to the
 *   wall clock makes its sample name missing (not the fields' fallback names: the engine does expose that name,
 *   it is just old), exactly as a scrape that old would be;
 * - anything after an OpenMetrics `# EOF` is not read (the parser stops there);
 * - for an endpoint that is one data-parallel rank of its pod, only that rank's `engine` series count
 *   (`rank-series.ts`).
 *
 * Each of these, and every unreadable line skipped, is reported as a {@link ParseProblems} for counting.
 *
 * @module
 */
import type { EngineMetrics } from "../engine-metrics";
import { CATALOGUE_SAMPLE_NAMES, engineMetricsFromText } from "./catalogue";
import type { Exposition, Sample } from "./prometheus-text";
import { parsePrometheusText } from "./prometheus-text";
import { seriesOfRank } from "./rank-series";

/** What was wrong inside one body, for counting; all zero/false for a clean body. */
export interface ParseProblems {
  /** Unreadable lines skipped. */
  readonly malformedLines: number;
  /** The parser's sample or line cap cut the body (it was then refused). */
  readonly truncated: boolean;
  /** Content followed an OpenMetrics `# EOF` line (it was not read). */
  readonly afterEof: boolean;
  /** Kept samples whose own timestamp was older than the staleness bound (their names were treated as missing). */
  readonly staleSamples: number;
}

/** A clean body's problems. */
export const NO_PARSE_PROBLEMS: ParseProblems = Object.freeze({
  malformedLines: 0,
  truncated: false,
  afterEof: false,
  staleSamples: 0,
});

/** What a body turned into. */
export type Interpretation =
  | { readonly t: "ok"; readonly metrics: EngineMetrics; readonly problems: ParseProblems }
  | { readonly t: "malformed"; readonly detail: string; readonly problems: ParseProblems };

/** The wall clock and staleness bound that sample timestamps are judged by. */
export interface SampleFreshness {
  /** Now, ms since the Unix epoch (the clock sample timestamps are on). */
  readonly wallNowMs: number;
  /** A sample timestamped earlier than `wallNowMs - staleAfterMs` is stale. */
  readonly staleAfterMs: number;
}

const NO_SAMPLES: readonly Sample[] = Object.freeze([]);

/**
 * `exposition` with every sample name that has a stale sample mapped to an empty list: present (so the catalogue
 * does not fall back to another name) but without a value. Returns the same object when nothing is stale.
 */
export function withoutStaleSamples(
  exposition: Exposition,
  f: SampleFreshness,
): { readonly exposition: Exposition; readonly staleSamples: number } {
  const oldest = f.wallNowMs - f.staleAfterMs;
  let staleSamples = 0;
  let samples: Map<string, readonly Sample[]> | undefined;
  for (const [name, list] of exposition.samples) {
    let stale = 0;
    for (const s of list) if (s.timestampMs !== undefined && s.timestampMs < oldest) stale += 1;
    if (stale === 0) continue;
    staleSamples += stale;
    samples ??= new Map(exposition.samples);
    samples.set(name, NO_SAMPLES);
  }
  return { exposition: samples ? { ...exposition, samples } : exposition, staleSamples };
}

/**
 * Parse a body and map it (see the module comment). Without `freshness`, sample timestamps are not checked.
 * With `rank` (the endpoint's data-parallel rank), the series of other engines are left out. Never throws.
 */
export function interpretMetricsBody(
  body: string,
  scrapedAtMs: number,
  freshness?: SampleFreshness,
  rank?: number,
): Interpretation {
  const parsed = parsePrometheusText(body, { only: CATALOGUE_SAMPLE_NAMES, skim: true });
  const base = {
    malformedLines: parsed.malformedLines,
    truncated: parsed.truncated,
    afterEof: parsed.afterEof,
    staleSamples: 0,
  };
  if (parsed.sampleLines === 0) {
    return { t: "malformed", detail: `no samples in ${body.length} characters`, problems: base };
  }
  if (parsed.truncated) {
    return {
      t: "malformed",
      detail: `cut at ${parsed.sampleLines} samples by the parser's cap`,
      problems: base,
    };
  }
  const own = rank === undefined ? parsed : seriesOfRank(parsed, rank);
  const checked = freshness ? withoutStaleSamples(own, freshness) : { exposition: own, staleSamples: 0 };
  return {
    t: "ok",
    metrics: engineMetricsFromText(checked.exposition, scrapedAtMs),
    problems: { ...base, staleSamples: checked.staleSamples },
  };
}

/** The closed set of problem kinds, as a metric label. */
export type ParseProblemKind = "malformed-line" | "truncated" | "after-eof" | "stale-sample";

/** `p` as (kind, count) pairs with a count above 0. */
export function parseProblemCounts(p: ParseProblems): Array<[ParseProblemKind, number]> {
  const out: Array<[ParseProblemKind, number]> = [];
  if (p.malformedLines > 0) out.push(["malformed-line", p.malformedLines]);
  if (p.truncated) out.push(["truncated", 1]);
  if (p.afterEof) out.push(["after-eof", 1]);
  if (p.staleSamples > 0) out.push(["stale-sample", p.staleSamples]);
  return out;
}
