/**
 * The scraper over real loopback HTTP with bodies that must not be trusted (a page cut by the sample cap, samples
 * with old timestamps) and a pod that fails then recovers (logged once each way). Every wait is on a scrape event.
 */
import { createClusterStore } from "../../../src/cluster/cluster-state";
import { createEngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import type { ParseProblems } from "../../../src/cluster/metrics/interpret-body";
import { DEFAULT_MAX_SAMPLES } from "../../../src/cluster/metrics/prometheus-text";
import type { ScrapeLog } from "../../../src/cluster/metrics/scrape-state-log";
import type { Scraper, ScraperOptions } from "../../../src/cluster/metrics/scraper";
import { startScraper } from "../../../src/cluster/metrics/scraper";
import type { Pod } from "../../../src/cluster/pod";
import type { Endpoint } from "./scrape-helpers";
import { pod, recorder, reply, serve, vllmBody } from "./scrape-helpers";

const endpoints: Endpoint[] = [];
const scrapers: Scraper[] = [];
afterEach(async () => {
  await Promise.all(scrapers.splice(0).map((s) => s.close()));
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
});

function rig(pods: Pod[], o: Partial<ScraperOptions> = {}) {
  const rec = recorder();
  const problems: ParseProblems[] = [];
  const cluster = createClusterStore();
  cluster.replace(pods);
  const store = createEngineMetricsStore({ staleAfterMs: 60_000 });
  scrapers.push(
    startScraper({
      cluster,
      store,
      intervalMs: 10,
      timeoutMs: 2000,
      concurrency: 8,
      observer: { ...rec.observer, onParseProblems: (_pod, p) => problems.push(p) },
      ...o,
    }),
  );
  return { rec, store, problems };
}

async function endpoint(handler: Parameters<typeof serve>[0]): Promise<Endpoint> {
  const e = await serve(handler);
  endpoints.push(e);
  return e;
}

describe("startScraper with untrustworthy bodies", () => {
  it("refuses a page cut by the sample cap (no partial mean of the DP engines)", async () => {
    const body =
      'vllm:kv_cache_usage_perc{engine="0"} 0.9\n' +
      "filler_metric 1\n".repeat(DEFAULT_MAX_SAMPLES) +
      'vllm:kv_cache_usage_perc{engine="1"} 0.1\n';
    const e = await endpoint((_hit, res) => reply(res, body));
    const { rec, store, problems } = rig([pod("a", e.port)]);
    await rec.scrapes("a", 1);
    expect(rec.of("a")[0]?.result).toBe("malformed");
    expect(store.fresh("a")).toBeUndefined();
    expect(store.entry("a")?.lastError?.message).toMatch(/cut at \d+ samples/);
    expect(problems[0]?.truncated).toBe(true);
  });

  it("treats samples older than the staleness bound by their own timestamps as missing", async () => {
    const e = await endpoint((_hit, res) =>
      reply(
        res,
        `vllm:num_requests_running{engine="0"} 3 ${Date.now() - 60_000}\n` +
          `vllm:kv_cache_usage_perc{engine="0"} 0.25 ${Date.now()}\n`,
      ),
    );
    const { rec, store, problems } = rig([pod("a", e.port)], { staleAfterMs: 5000 });
    await rec.scrapes("a", 1, "ok");
    expect(store.fresh("a")?.requestsRunning).toBeUndefined();
    expect(store.fresh("a")?.kvCacheUsage).toBe(0.25);
    expect(problems[0]?.staleSamples).toBe(1);
  });
});

describe("startScraper logging", () => {
  it("logs a failing pod once at warn and its recovery once, not every failed scrape", async () => {
    const lines: Array<[string, string, Record<string, unknown>]> = [];
    const log: ScrapeLog = {
      warn: (obj, msg) => lines.push(["warn", msg, obj as Record<string, unknown>]),
      info: (obj, msg) => lines.push(["info", msg, obj as Record<string, unknown>]),
    };
    const e = await endpoint((hit, res) => (hit.n <= 5 ? reply(res, "busy", 503) : reply(res, vllmBody(1))));
    const { rec } = rig([pod("a", e.port)], { log });
    await rec.scrapes("a", 2, "ok");
    expect(rec.of("a", "http-error")).toHaveLength(5);
    expect(lines.map(([level, , obj]) => [level, obj["pod"], obj["reason"]])).toEqual([
      ["warn", "a", "http-error"],
      ["info", "a", undefined],
    ]);
  });
});
