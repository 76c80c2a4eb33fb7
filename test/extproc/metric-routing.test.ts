/**
 * End to end: real HTTP metric endpoints, the real scraper, a metric strategy chosen by header, and the explicit,
 * counted fallback when an engine's metrics go stale.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Pod } from "../../src/cluster/pod";
import { pod, startHarness } from "./harness";
import { decide, targetOf } from "./request-phase";
import { debugPods } from "./harness-probes";
import type { Harness } from "./harness";

/** A vLLM v1-style exposition with the given KV-cache usage. */
function exposition(kv: number, waiting: number): string {
  return [
    "# TYPE vllm:num_requests_running gauge",
    `vllm:num_requests_running{engine="0",model_name="m1"} 1.0`,
    "# TYPE vllm:num_requests_waiting gauge",
    `vllm:num_requests_waiting{engine="0",model_name="m1"} ${waiting}`,
    "# TYPE vllm:kv_cache_usage_perc gauge",
    `vllm:kv_cache_usage_perc{engine="0",model_name="m1"} ${kv}`,
    "",
  ].join("\n");
}

interface Engine {
  server: http.Server;
  port: number;
  kv: number;
  hang: boolean;
  /** Resolves on the next request served. */
  nextScrape(): Promise<void>;
}

async function startEngine(kv: number): Promise<Engine> {
  let waiters: (() => void)[] = [];
  const engine = { kv, hang: false } as Engine;
  engine.server = http.createServer((_req, res) => {
    if (engine.hang) return; // never answers: the scraper's timeout must fire
    res.end(exposition(engine.kv, 0));
    const w = waiters;
    waiters = [];
    for (const f of w) f();
  });
  await new Promise<void>((r) => engine.server.listen(0, "127.0.0.1", r));
  engine.port = (engine.server.address() as AddressInfo).port;
  engine.nextScrape = () => new Promise((r) => waiters.push(r));
  return engine;
}

describe("metric-aware routing through the server", () => {
  let engines: Engine[];
  let pods: Pod[];
  let h: Harness;

  beforeAll(async () => {
    engines = await Promise.all([0.9, 0.1, 0.5].map(startEngine));
    pods = engines.map((e, i) => ({
      ...pod(`p${i}`, "127.0.0.1", ["m1"], true, 9000 + i),
      metricsPort: e.port,
    }));
    h = await startHarness(
      pods,
      // Stale after 1.5 s: long enough that a loaded machine's late scrapes do not age metrics out mid-test.
      ["--metrics-interval-ms", "20", "--metrics-timeout-ms", "100", "--metrics-stale-after-ms", "1500"],
      {},
      { scrapeMetrics: true },
    );
    await Promise.all(engines.map((e) => e.nextScrape()));
  });
  afterAll(async () => {
    await h.close();
    for (const e of engines) {
      e.server.closeAllConnections();
      e.server.close();
    }
  });

  /** Resolves once kvroute's store holds `kv` as each pod's fresh KV-cache usage (polled; no fixed sleep). */
  function storeShows(kv: readonly number[]): Promise<void> {
    return new Promise<void>((resolve) => {
      const check = (): void => {
        if (pods.every((p, i) => h.server.engineMetrics.fresh(p.key)?.kvCacheUsage === kv[i])) resolve();
        else setTimeout(check, 10);
      };
      check();
    });
  }

  async function route(strategy: string): Promise<string> {
    const s = h.client.open();
    const r = await decide(s, { headers: { "routing-strategy": strategy } });
    s.cancel();
    return targetOf(r);
  }

  it("least-kv-cache picks the engine with the lowest KV-cache usage, and follows changes", async () => {
    await storeShows([0.9, 0.1, 0.5]);
    expect(await route("least-kv-cache")).toBe(pods[1]?.address);
    const e0 = engines[0];
    const e1 = engines[1];
    if (!e0 || !e1) throw new Error("engines");
    e0.kv = 0.05;
    e1.kv = 0.95;
    await storeShows([0.05, 0.95, 0.5]);
    expect(await route("least-kv-cache")).toBe(pods[0]?.address);
  });

  it("/debug/state shows the metrics in use and the scrape age", async () => {
    const pods = await debugPods<{
      name: string;
      metricsInUse: { kvCacheUsage?: number } | null;
      lastScrapeAgeMs: number | null;
    }>(h);
    const p2 = pods.find((p) => p.name === "p2");
    expect(p2?.metricsInUse?.kvCacheUsage).toBe(0.5);
    expect(p2?.lastScrapeAgeMs).toBeGreaterThanOrEqual(0);
  });

  it("when every engine's metrics go stale, least-kv-cache falls back explicitly and counts it", async () => {
    for (const e of engines) e.hang = true;
    // Wait until the store hands out no fresh metrics for any pod (the staleness bound, not a sleep).
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (pods.every((p) => h.server.engineMetrics.fresh(p.key) === undefined)) resolve();
        else setTimeout(check, 20);
      };
      check();
    });
    expect(pods.map((p) => p.address)).toContain(await route("least-kv-cache"));
    const line = await h.log.waitFor(
      (l) => l["msg"] === "request finished" && l["fallbackReason"] !== undefined,
    );
    expect(line).toMatchObject({
      strategy: "least-kv-cache",
      fallbackReason: "metrics-missing",
      fallbackTo: "least-request",
    });
    const fallbacks = await h.server.metrics.registry.getSingleMetricAsString(
      "kvroute_routing_fallback_total",
    );
    expect(fallbacks).toMatch(/strategy="least-kv-cache",reason="metrics-missing"} 1/);
    const scrapes = await h.server.metrics.registry.getSingleMetricAsString("kvroute_engine_scrapes_total");
    expect(scrapes).toMatch(/result="timeout"/);
    const stale = await h.server.metrics.registry.getSingleMetricAsString(
      "kvroute_engine_metrics_stale_pods",
    );
    expect(stale).toMatch(/kvroute_engine_metrics_stale_pods 3/);
  });
});
