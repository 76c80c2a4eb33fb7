/**
 * The scraper on its own thread, over real loopback HTTP: the store, observer and log see what the in-process
 * scraper would show them, departed pods are forgotten, a thread that dies is started again, and close() ends it.
 */
import net from "node:net";
import type { ClusterStore } from "../../../src/cluster/cluster-state";
import { createClusterStore } from "../../../src/cluster/cluster-state";
import { createEngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import type { EngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import type { ScraperOptions } from "../../../src/cluster/metrics/scraper";
import { startScraperThread } from "../../../src/cluster/metrics/scrape-thread";
import type { ThreadScraper } from "../../../src/cluster/metrics/scrape-thread";
import type { Endpoint, Recorder } from "./scrape-helpers";
import { pod, recorder, reply, serve, vllmBody } from "./scrape-helpers";

const endpoints: Endpoint[] = [];
const scrapers: ThreadScraper[] = [];
afterEach(async () => {
  await Promise.all(scrapers.splice(0).map((s) => s.close()));
  await Promise.all(endpoints.splice(0).map((e) => e.close()));
});

async function endpoint(handler: Parameters<typeof serve>[0]): Promise<Endpoint> {
  const e = await serve(handler);
  endpoints.push(e);
  return e;
}

interface Rig {
  readonly cluster: ClusterStore;
  readonly store: EngineMetricsStore;
  readonly rec: Recorder;
  readonly logs: { level: string; msg: string }[];
  readonly scraper: ThreadScraper;
}

function rig(
  pods: Parameters<ClusterStore["replace"]>[0],
  o: Partial<ScraperOptions> = {},
  rec = recorder(),
  limits: Parameters<typeof startScraperThread>[1] = {},
): Rig {
  const cluster = createClusterStore();
  cluster.replace(pods);
  const store = createEngineMetricsStore({ staleAfterMs: 60_000 });
  const logs: { level: string; msg: string }[] = [];
  const scraper = startScraperThread(
    {
      cluster,
      store,
      intervalMs: 10,
      timeoutMs: 2000,
      concurrency: 8,
      observer: rec.observer,
      log: {
        warn: (_obj, msg) => logs.push({ level: "warn", msg }),
        info: (_obj, msg) => logs.push({ level: "info", msg }),
      },
      ...o,
    },
    // A thread that dies is started again at once rather than after kvroute's 1 s (two tests crash it).
    { restartDelayMs: 10, ...limits },
  );
  scrapers.push(scraper);
  return { cluster, store, rec, logs, scraper };
}

/** A loopback port with nothing listening on it: every scrape of it fails at once (connection refused). */
async function refusedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/**
 * Hold this thread's event loop, as a stuck loop would, until `done()` (read through shared memory, so it can turn
 * true while the loop is held); fails after `limitMs` rather than hanging the suite.
 */
function holdLoopUntil(done: () => boolean, limitMs = 30_000): void {
  const until = performance.now() + limitMs;
  while (!done())
    if (performance.now() > until) throw new Error("held the loop for the limit and it never happened");
}

describe("startScraperThread", () => {
  it("records each scrape in the store before the observer hears of it, with a current timestamp", async () => {
    const e = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const seen: (number | undefined)[] = [];
    let r: Rig | undefined = undefined;
    const rec = recorder((ev) => seen.push(r?.store.fresh(ev.pod)?.requestsRunning));
    r = rig([pod("a", e.port)], {}, rec);
    await rec.scrapes("a", 4, "ok");
    expect(seen.slice(0, 4)).toEqual([1, 2, 3, 4]);
    const m = r.store.fresh("a");
    expect(m?.kvCacheUsage).toBe(0.5);
    // On this thread's clock: scraped in the past, and not long ago (the thread's clock has another origin).
    expect(m?.scrapedAtMs).toBeLessThanOrEqual(performance.now());
    expect(m?.scrapedAtMs).toBeGreaterThan(performance.now() - 5000);
    expect(r.scraper.stats().results.ok).toBeGreaterThanOrEqual(1);
  });

  it("reports failures to the store, the observer and the log (once)", async () => {
    const e = await endpoint((_hit, res) => reply(res, "oops", 500));
    const r = rig([pod("a", e.port)]);
    await r.rec.scrapes("a", 3, "http-error");
    expect(r.store.entry("a")?.lastError).toMatchObject({ reason: "http-error", message: "HTTP 500" });
    expect(r.store.entry("a")?.consecutiveFailures).toBeGreaterThanOrEqual(3);
    expect(r.logs.filter((l) => l.level === "warn")).toHaveLength(1);
  });

  it("forgets a pod that leaves and stops reporting it", async () => {
    const a = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const b = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const r = rig([pod("a", a.port), pod("b", b.port)]);
    await r.rec.scrapes("b", 1, "ok");
    r.cluster.replace([pod("a", a.port)]);
    expect(r.store.entry("b")).toBeUndefined();
    const bEvents = r.rec.of("b").length;
    const before = r.rec.of("a").length;
    await r.rec.scrapes("a", before + 5);
    expect(r.store.entry("b")).toBeUndefined();
    // At most what was already on its way when b left.
    expect(r.rec.of("b").length).toBeLessThanOrEqual(bEvents + 1);
  });

  it("starts a thread that dies again, logs it, and keeps scraping", async () => {
    const e = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const r = rig([pod("a", e.port)]);
    await r.rec.scrapes("a", 1, "ok");
    await r.scraper.crashThreadForTest();
    const before = r.rec.of("a", "ok").length;
    await r.rec.scrapes("a", before + 2, "ok");
    expect(r.scraper.stats().threadRestarts).toBe(1);
    expect(r.logs.some((l) => l.level === "warn" && /scrape thread stopped/.test(l.msg))).toBe(true);
  });

  it("close() stops the thread: nothing is reported after it, and it is idempotent", async () => {
    const e = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const r = rig([pod("a", e.port)]);
    await r.rec.scrapes("a", 2, "ok");
    await r.scraper.close();
    await r.scraper.close();
    const n = r.rec.events.length;
    await e.requests(e.paths.length); // whatever arrived, arrived; then a round trip of our own loop
    await new Promise<void>((resolve) => setImmediate(resolve));
    expect(r.rec.events.length).toBe(n);
  });

  it("at the bound of unapplied batches, drops and counts results while the loop is stuck, and goes on after", async () => {
    const r = rig([pod("a", await refusedPort())], {}, recorder(), { maxPendingBatches: 1 });
    await r.rec.scrapes("a", 1, "connect-error");
    // Stuck: the thread's next batch fills the bound and the ones after it are dropped — counted where this loop can
    // read it without running.
    holdLoopUntil(() => r.scraper.stats().droppedResults >= 3);
    const dropped = r.scraper.stats().droppedResults;
    const before = r.rec.of("a").length;
    // Free again: results arrive as before, and the count never goes back.
    await r.rec.scrapes("a", before + 3, "connect-error");
    expect(r.scraper.stats().droppedResults).toBeGreaterThanOrEqual(dropped);
    expect(r.store.entry("a")?.lastError?.reason).toBe("connect-error");
  });

  it("keeps the dropped-results count across a thread restart (a counter never goes back)", async () => {
    const r = rig([pod("a", await refusedPort())], {}, recorder(), { maxPendingBatches: 1 });
    await r.rec.scrapes("a", 1);
    holdLoopUntil(() => r.scraper.stats().droppedResults >= 1);
    const dropped = r.scraper.stats().droppedResults;
    await r.scraper.crashThreadForTest();
    const before = r.rec.of("a").length;
    await r.rec.scrapes("a", before + 2);
    expect(r.scraper.stats().threadRestarts).toBe(1);
    expect(r.scraper.stats().droppedResults).toBeGreaterThanOrEqual(dropped);
  });

  it("refuses what cannot cross to the thread, and bad numbers", () => {
    expect(() => rig([], { path: () => "/x" })).toThrow(TypeError);
    expect(() => rig([], { intervalMs: 0 })).toThrow(RangeError);
  });
});
