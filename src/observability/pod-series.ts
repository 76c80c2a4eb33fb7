/**
 * Removal of per-pod series once their pod has left the fleet, across every metric of a registry that has a `pod`
 * label: the scrape counters and histogram, the KV-event counters, and whatever per-pod metric is added later,
 * without a list to keep in step. Gauges rebuilt at scrape time (a `collect` function) are skipped: they already
 * show only what their source holds.
 *
 * @module
 */
import type { Registry } from "prom-client";

/** Labels that prom-client adds to a series' samples and that are not part of the series' own label set. */
const SAMPLE_ONLY_LABELS = new Set(["le", "quantile"]);

/** The public parts of a prom-client metric this module uses (every Counter, Gauge, Histogram and Summary). */
interface LabelledMetric {
  readonly labelNames?: readonly string[];
  readonly collect?: unknown;
  get(): Promise<{ values: readonly { labels: Readonly<Record<string, string | number | undefined>> }[] }>;
  remove(labels: Record<string, string | number>): void;
}

function isLabelledMetric(m: unknown): m is LabelledMetric {
  if (typeof m !== "object" || m === null) return false;
  const o = m as Record<string, unknown>;
  return (
    Array.isArray(o["labelNames"]) && typeof o["get"] === "function" && typeof o["remove"] === "function"
  );
}

/**
 * Remove every series whose `pod` label value is not kept (`keep(value)` false). Returns how many series went.
 * Never throws: a metric that cannot be read is left as it is.
 */
export async function removePodSeries(registry: Registry, keep: (pod: string) => boolean): Promise<number> {
  let removed = 0;
  for (const metric of registry.getMetricsAsArray() as unknown[]) {
    if (!isLabelledMetric(metric) || metric.collect !== undefined) continue;
    if (!metric.labelNames?.includes("pod")) continue;
    let values;
    try {
      values = (await metric.get()).values;
    } catch {
      continue;
    }
    const gone = new Map<string, Record<string, string | number>>();
    for (const { labels } of values) {
      const pod = labels["pod"];
      if (pod === undefined || keep(String(pod))) continue;
      // Keys sorted, so a histogram's bucket, sum and count samples of one series give one entry.
      const own: Record<string, string | number> = {};
      for (const k of Object.keys(labels).sort()) {
        const v = labels[k];
        if (!SAMPLE_ONLY_LABELS.has(k) && v !== undefined) own[k] = v;
      }
      gone.set(JSON.stringify(own), own);
    }
    for (const labels of gone.values()) {
      try {
        metric.remove(labels);
        removed++;
      } catch {
        // The labels came from the metric itself; a refusal would be a prom-client change, not worth a crash.
      }
    }
  }
  return removed;
}
