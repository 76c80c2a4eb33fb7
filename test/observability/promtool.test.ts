/**
 * kvroute's /metrics page passes `promtool check metrics` (Prometheus's own linter: counters end in `_total`, nothing
 * else does, units in base units, help text present, ...) after real requests went through, so the request-level
 * families, the process metrics and the build info are all on the page being checked.
 */
import type { Harness } from "../extproc/harness";
import { runPromtool } from "../support/promtool";
import { REQUEST_FAMILIES, routeSome, samplesOf, scrapeMetrics, startRoutedHarness } from "./routed-scrape";

describe("/metrics against promtool", () => {
  let h: Harness;
  let text: string;
  beforeAll(async () => {
    h = await startRoutedHarness();
    await routeSome(h);
    text = await scrapeMetrics(h);
  }, 60_000);
  afterAll(async () => {
    await h?.close();
  });

  it("promtool check metrics finds nothing to warn about", async () => {
    expect(await runPromtool(["check", "metrics"], text)).toEqual({ code: 0, output: "" });
  });

  it("the request-level families have samples, with pod and model labels of the fleet", () => {
    const missing = REQUEST_FAMILIES.filter((f) => samplesOf(text, f).length === 0);
    expect(missing).toEqual([]);
    expect(samplesOf(text, "kvroute_time_to_first_token_seconds").find((l) => l.includes("_count"))).toMatch(
      /^kvroute_time_to_first_token_seconds_count\{model="m1",pod="[ab]"\} \d/,
    );
    expect(text).toMatch(
      /^kvroute_routed_requests_total\{model="m1",pod="[ab]",strategy="prefix-cache"\} \d/m,
    );
    expect(text).toMatch(/^kvroute_build_info\{version="\d+\.\d+\.\d+[^"]*",node_version="v\d+[^"]*",/m);
  });

  it("Node's process metrics under their standard names, the _total gauges renamed", () => {
    expect(text).toMatch(/^process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^nodejs_heap_size_used_bytes \d/m);
    expect(text).toMatch(/^nodejs_active_handles_all_types \d/m);
    expect(text).not.toMatch(/^kvroute_(process|nodejs)_/m);
    expect(text).not.toMatch(/^nodejs_active_\w+_total/m);
  });
});
