/**
 * Engine metrics: scrape each ready pod's Prometheus endpoint, map vLLM / SGLang / xLLM names onto
 * `EngineMetrics`, and hand strategies only fresh figures.
 *
 * @module
 */
export { CATALOGUE_SAMPLE_NAMES, engineMetricsFromText } from "./catalogue";
export { createEngineMetricsStore } from "./engine-metrics-store";
export type {
  EngineMetricsEntry,
  EngineMetricsStore,
  EngineMetricsStoreOptions,
  ScrapeFailure,
  ScrapeFailureReason,
  ScrapeResult,
} from "./engine-metrics-store";
export { parseProblemCounts } from "./interpret-body";
export type { ParseProblemKind, ParseProblems } from "./interpret-body";
export { labelValue, parsePrometheusText } from "./prometheus-text";
export type { Exposition, MetricType, ParseOptions, Sample } from "./prometheus-text";
export { DEFAULT_MAX_BODY_BYTES, defaultMetricsPath, startScraper } from "./scraper";
export { startScraperThread } from "./scrape-thread";
export type { ThreadScraper, ThreadScraperStats } from "./scrape-thread";
export type { ScrapeObserver, Scraper, ScraperOptions, ScraperStats } from "./scraper";
