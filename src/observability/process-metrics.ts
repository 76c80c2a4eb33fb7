/**
 * Node's process metrics (prom-client's defaults) under their standard, unprefixed names (`process_*`,
 * `nodejs_*`), so stock Node dashboards and alerts work on kvroute. prom-client's three `nodejs_active_*_total`
 * gauges break the Prometheus rule that only counters end in `_total` (`promtool check metrics` warns): they are
 * registered again as `nodejs_active_*_all_types`, with prom-client's own values (the sum over `type` of the
 * per-type gauge of the same stem).
 *
 * @module
 */
import { Gauge, collectDefaultMetrics } from "prom-client";
import type { Registry } from "prom-client";

/** prom-client's gauge names ending in `_total` → the names kvroute exports them under. */
export const RENAMED_PROCESS_GAUGES: ReadonlyMap<string, string> = new Map([
  ["nodejs_active_handles_total", "nodejs_active_handles_all_types"],
  ["nodejs_active_requests_total", "nodejs_active_requests_all_types"],
  ["nodejs_active_resources_total", "nodejs_active_resources_all_types"],
]);

/** Register prom-client's default metrics into `registry`, with the `_total` gauges renamed. */
export function registerProcessMetrics(registry: Registry): void {
  collectDefaultMetrics({ register: registry });
  for (const [from, to] of RENAMED_PROCESS_GAUGES) {
    // Absent when this Node lacks the API behind it (prom-client then registers nothing under that name).
    const original = registry.getSingleMetric(from);
    if (original === undefined) continue;
    registry.removeSingleMetric(from);
    new Gauge({
      name: to,
      help: `${(original as unknown as { help: string }).help} (prom-client's ${from})`,
      registers: [registry],
      async collect() {
        // The original gauge's own collect computes the value, so the number is exactly prom-client's.
        const value = (await original.get()).values[0]?.value;
        if (value === undefined) this.reset();
        else this.set(value);
      },
    });
  }
}
