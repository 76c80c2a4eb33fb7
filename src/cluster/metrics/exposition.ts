/**
 * What the Prometheus text parser (`prometheus-text.ts`) produces and takes: samples keyed by sample name, the
 * families' types and help, the parse's counts and bounds, and `labelValue` to read a sample's label. Kept apart
 * from the parser so readers of an exposition (the catalogue, the scraper) see its shape without the hot loops.
 *
 * @module
 */

/** The `# TYPE` of a metric family. */
export type MetricType = "counter" | "gauge" | "histogram" | "summary" | "untyped";

/** One sample line. */
export interface Sample {
  /** Label names and values, flattened: `[name0, value0, name1, value1, …]`, in exposition order. */
  readonly labels: readonly string[];
  /** The value; may be NaN or ±Infinity, exactly as exposed. */
  readonly value: number;
  /** The optional sample timestamp (ms since the Unix epoch); undefined when the line has none. */
  readonly timestampMs: number | undefined;
}

/** The parsed body of one scrape. */
export interface Exposition {
  /** Kept samples by sample name (`vllm:e2e_request_latency_seconds_bucket`, not the family name), in order. */
  readonly samples: ReadonlyMap<string, readonly Sample[]>;
  /** `# TYPE` per family name. */
  readonly types: ReadonlyMap<string, MetricType>;
  /** `# HELP` text per family name (unescaped); empty unless {@link ParseOptions.help} is set. */
  readonly help: ReadonlyMap<string, string>;
  /** Well-formed sample lines seen, kept or filtered out by {@link ParseOptions.only}. 0 for a non-Prometheus body. */
  readonly sampleLines: number;
  /** Lines skipped because they could not be read. */
  readonly malformedLines: number;
  /** True when {@link ParseOptions.maxLines} or {@link ParseOptions.maxSamples} stopped the parse early. */
  readonly truncated: boolean;
  /** True when an OpenMetrics `# EOF` line was followed by more than blank lines (which were not read). */
  readonly afterEof: boolean;
}

/** Options of `parsePrometheusText`. */
export interface ParseOptions {
  /**
   * Keep only samples with these sample names. The other lines are still read (they count in `sampleLines` or
   * `malformedLines`, with the lighter label check described in `prometheus-text.ts`) but allocate nothing.
   * Default: keep all.
   */
  readonly only?: ReadonlySet<string>;
  /** Stop after this many sample lines (kept or not). Default {@link DEFAULT_MAX_SAMPLES}. */
  readonly maxSamples?: number;
  /** Stop after this many lines of any kind. Default {@link DEFAULT_MAX_LINES}. */
  readonly maxLines?: number;
  /**
   * With {@link only}: skim instead of parse what `only` filters out, and skip comments. A filtered sample line
   * counts in `sampleLines` when it starts with a name character and ends like a number; its label set and value
   * are not checked, and `# TYPE`/`# HELP` lines are not read (`types` and `help` stay empty; `# EOF` still ends
   * the body). Lines whose name is in `only` are parsed and checked in full either way. The scraper uses this: a
   * vLLM body is ~95 % histogram lines the catalogue never reads. Default false.
   */
  readonly skim?: boolean;
  /** Collect `# HELP` texts. Default false. */
  readonly help?: boolean;
}

/** Default cap on sample lines per body: far above a vLLM exposition (a few thousand samples). */
export const DEFAULT_MAX_SAMPLES = 100_000;
/** Default cap on lines per body (samples, comments and blank lines). */
export const DEFAULT_MAX_LINES = 400_000;

/** The value of label `name` on `sample`; undefined when the sample has no such label. */
export function labelValue(sample: Sample, name: string): string | undefined {
  const l = sample.labels;
  for (let i = 0; i + 1 < l.length; i += 2) if (l[i] === name) return l[i + 1];
  return undefined;
}
