/**
 * Each data-parallel rank of a pod reads its own `engine="<rank>"` series of a shared `/metrics` page: pure
 * selection, and through real scrapers (in-process and on the scrape thread) of one loopback endpoint that two
 * rank endpoints share.
 */
import { createClusterStore } from "../../../src/cluster/cluster-state";
import { expandRanks } from "../../../src/cluster/data-parallel";
import { createEngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import { interpretMetricsBody } from "../../../src/cluster/metrics/interpret-body";
import { parsePrometheusText } from "../../../src/cluster/metrics/prometheus-text";
import { seriesOfRank } from "../../../src/cluster/metrics/rank-series";
import type { Scraper } from "../../../src/cluster/metrics/scraper";
import { startScraper } from "../../../src/cluster/metrics/scraper";
import { startScraperThread } from "../../../src/cluster/metrics/scrape-thread";
import type { Endpoint } from "./scrape-helpers";
import { pod, recorder, reply, serve } from "./scrape-helpers";

/** One vLLM page for a pod with two DP engines, plus a pod-wide series without an engine label. */
const TWO_ENGINES =
  'vllm:num_requests_running{engine="0",model_name="m"} 3\n' +
  'vllm:num_requests_running{engine="1",model_name="m"} 7\n' +
  'vllm:num_requests_waiting{engine="0",model_name="m"} 1\n' +
  'vllm:num_requests_waiting{engine="1",model_name="m"} 2\n' +
  'vllm:kv_cache_usage_perc{engine="0",model_name="m"} 0.2\n' +
  'vllm:kv_cache_usage_perc{engine="1",model_name="m"} 0.8\n' +
  'vllm:lora_requests_info{max_lora="4",running_lora_adapters="",waiting_lora_adapters=""} 1\n';

describe("seriesOfRank", () => {
  const page = parsePrometheusText(TWO_ENGINES);

  it("keeps only the rank's engine series of a name, and pod-wide names as they are", () => {
    const one = seriesOfRank(page, 1);
    expect(one.samples.get("vllm:num_requests_running")?.map((s) => s.value)).toEqual([7]);
    expect(one.samples.get("vllm:kv_cache_usage_perc")?.map((s) => s.value)).toEqual([0.8]);
    expect(one.samples.get("vllm:lora_requests_info")).toBe(page.samples.get("vllm:lora_requests_info"));
  });

  it("keeps everything when no series names the rank (a rank's own server counting from 0)", () => {
    expect(seriesOfRank(page, 5)).toBe(page);
  });

  it("gives each rank its own metrics, where the pod as a whole sums them", () => {
    const pick = (rank?: number) => {
      const r = interpretMetricsBody(TWO_ENGINES, 1, undefined, rank);
      if (r.t !== "ok") throw new Error(r.detail);
      return [r.metrics.requestsRunning, r.metrics.requestsWaiting, r.metrics.kvCacheUsage];
    };
    expect(pick(0)).toEqual([3, 1, 0.2]);
    expect(pick(1)).toEqual([7, 2, 0.8]);
    expect(pick()).toEqual([10, 3, 0.5]);
  });
});

describe.each([
  ["in process", "in-process"],
  ["on the scrape thread", "thread"],
] as const)("rank endpoints sharing one /metrics, scraped %s", (_t, where) => {
  let e: Endpoint | undefined;
  let scraper: Scraper | undefined;
  afterEach(async () => {
    await scraper?.close();
    await e?.close();
  });

  it("stores each rank's own series under the rank's key", async () => {
    e = await serve((_hit, res) => reply(res, TWO_ENGINES));
    // The metrics port differs from the serving port: one /metrics for the pod, shared by its ranks.
    const base = { ...pod("test/dp", 9000), metricsPort: e.port };
    const ranks = expandRanks(base, [9000, 9001]);
    expect(ranks.map((r) => [r.key, r.address, r.metricsPort])).toEqual([
      ["test/dp/rank-0", "127.0.0.1:9000", e.port],
      ["test/dp/rank-1", "127.0.0.1:9001", e.port],
    ]);
    const cluster = createClusterStore();
    cluster.replace(ranks);
    const store = createEngineMetricsStore({ staleAfterMs: 60_000 });
    const rec = recorder();
    const options = {
      cluster,
      store,
      intervalMs: 10,
      timeoutMs: 2000,
      concurrency: 4,
      observer: rec.observer,
    };
    scraper = where === "thread" ? startScraperThread(options) : startScraper(options);
    await rec.scrapes("test/dp/rank-0", 1, "ok");
    await rec.scrapes("test/dp/rank-1", 1, "ok");
    expect(store.fresh("test/dp/rank-0")).toMatchObject({ requestsRunning: 3, kvCacheUsage: 0.2 });
    expect(store.fresh("test/dp/rank-1")).toMatchObject({ requestsRunning: 7, kvCacheUsage: 0.8 });
  });
});
