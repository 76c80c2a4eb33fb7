import net from "node:net";
import type { ClusterStore } from "../../../src/cluster/cluster-state";
import { createClusterStore } from "../../../src/cluster/cluster-state";
import type { EngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import { createEngineMetricsStore } from "../../../src/cluster/metrics/engine-metrics-store";
import type { Scraper, ScraperOptions } from "../../../src/cluster/metrics/scraper";
import { failure } from "../../../src/cluster/metrics/http-get";
import { startScraper } from "../../../src/cluster/metrics/scraper";
import type { Concurrency, Endpoint, Recorder } from "./scrape-helpers";
import { pod, recorder, reply, serve, vllmBody } from "./scrape-helpers";

const INTERVAL_MS = 10;

interface Rig {
  readonly cluster: ClusterStore;
  readonly store: EngineMetricsStore;
  readonly rec: Recorder;
  readonly scraper: Scraper;
}

let endpoints: Endpoint[] = [];
let scrapers: Scraper[] = [];

afterEach(async () => {
  await Promise.all(scrapers.map((s) => s.close()));
  await Promise.all(endpoints.map((e) => e.close()));
  scrapers = [];
  endpoints = [];
});

async function endpoint(...args: Parameters<typeof serve>): Promise<Endpoint> {
  const e = await serve(...args);
  endpoints.push(e);
  return e;
}

/** Start a scraper over `pods` with test defaults (10 ms interval, 2 s timeout, concurrency 32). */
function rig(
  pods: Parameters<ClusterStore["replace"]>[0],
  o: Partial<ScraperOptions> = {},
  rec = recorder(),
): Rig {
  const cluster = createClusterStore();
  cluster.replace(pods);
  const store = createEngineMetricsStore({ staleAfterMs: 60_000 });
  const scraper = startScraper({
    cluster,
    store,
    intervalMs: INTERVAL_MS,
    timeoutMs: 2000,
    concurrency: 32,
    observer: rec.observer,
    ...o,
  });
  scrapers.push(scraper);
  return { cluster, store, rec, scraper };
}

/** A loopback port with nothing listening on it. */
async function refusedPort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as net.AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

describe("startScraper against real HTTP endpoints", () => {
  it("follows values that change between scrapes", async () => {
    const e = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const seen: (number | undefined)[] = [];
    let r: Rig | undefined = undefined;
    const rec = recorder((ev) => seen.push(r?.store.fresh(ev.pod)?.requestsRunning));
    r = rig([pod("a", e.port)], {}, rec);
    await rec.scrapes("a", 4, "ok");
    // At each observed scrape the store already holds that scrape's value: request n served n.
    expect(seen.slice(0, 4)).toEqual([1, 2, 3, 4]);
    expect(r.store.fresh("a")?.kvCacheUsage).toBe(0.5);
    expect(e.paths.slice(0, 4)).toEqual(["/metrics", "/metrics", "/metrics", "/metrics"]);
    expect(r.store.entry("a")?.consecutiveFailures).toBe(0);
  });

  it("times out a hanging pod; only that pod fails and the others stay fresh", async () => {
    const hang = await endpoint(() => undefined);
    const good = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const r = rig([pod("hang", hang.port), pod("good", good.port)], { timeoutMs: 150 });
    await r.rec.scrapes("hang", 1, "timeout");
    expect(r.rec.of("good", "ok").length).toBeGreaterThanOrEqual(2);
    expect(r.store.fresh("good")?.requestsRunning).toBeGreaterThanOrEqual(2);
    expect(r.store.fresh("hang")).toBeUndefined();
    expect(r.store.entry("hang")?.lastError?.reason).toBe("timeout");
    expect(r.rec.of("hang")[0]?.seconds).toBeGreaterThanOrEqual(0.14);
    // The abandoned request's connection was closed, and the hanging pod is asked again later.
    await hang.closedRequests(1);
    await hang.requests(2);
  });

  it.each<[string, (res: Parameters<Parameters<typeof serve>[0]>[1]) => void]>([
    ["HTML", (res) => reply(res, "<html><body>hello</body></html>\n")],
    ["JSON", (res) => reply(res, '{"running": 3}')],
    ["an empty body", (res) => reply(res, "")],
  ])("records %s as malformed and gives the pod no metrics", async (_t, handler) => {
    const e = await endpoint((_hit, res) => handler(res));
    const r = rig([pod("a", e.port)]);
    await r.rec.scrapes("a", 1, "malformed");
    expect(r.store.fresh("a")).toBeUndefined();
    expect(r.store.entry("a")).toMatchObject({ lastError: { reason: "malformed" }, consecutiveFailures: 1 });
    expect(r.scraper.stats().results.malformed).toBe(1);
  });

  it("maps a 500 to http-error and keeps the last good metrics", async () => {
    const e = await endpoint((hit, res) => (hit.n === 1 ? reply(res, vllmBody(7)) : reply(res, "oops", 500)));
    const r = rig([pod("a", e.port)]);
    await r.rec.scrapes("a", 2, "http-error");
    expect(r.rec.of("a")[0]?.result).toBe("ok");
    expect(r.store.fresh("a")?.requestsRunning).toBe(7);
    expect(r.store.entry("a")?.lastError).toMatchObject({ reason: "http-error", message: "HTTP 500" });
  });

  it("maps a refused connection to connect-error", async () => {
    const r = rig([pod("a", await refusedPort())]);
    await r.rec.scrapes("a", 2, "connect-error");
    expect(r.store.entry("a")?.lastError).toMatchObject({ reason: "connect-error", message: "ECONNREFUSED" });
  });

  it("maps a reply that is not HTTP to http-error", async () => {
    const sockets = new Set<net.Socket>();
    const srv = net.createServer((socket) => {
      sockets.add(socket);
      socket.on("error", () => undefined);
      socket.end("SSH-2.0-OpenSSH_9.6\r\n\r\n");
    });
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    try {
      const r = rig([pod("a", (srv.address() as net.AddressInfo).port)]);
      await r.rec.scrapes("a", 1, "http-error");
      expect(r.store.entry("a")?.lastError?.message).toMatch(/^HPE_/);
      await r.scraper.close();
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => srv.close(() => resolve()));
    }
  });

  it("maps a body cut off mid-way to connect-error", async () => {
    const e = await endpoint((_hit, res) => {
      res.writeHead(200, { "content-length": "1000" });
      res.write("vllm:num_requests_running 1\n");
      setImmediate(() => res.destroy());
    });
    const r = rig([pod("a", e.port)]);
    await r.rec.scrapes("a", 1, "connect-error");
    expect(r.store.fresh("a")).toBeUndefined();
  });

  it.each([
    ["announced by content-length", true],
    ["streamed without content-length", false],
  ])("aborts a body over maxBodyBytes (%s) as too-large", async (_t, announce) => {
    const body = vllmBody(1).repeat(20);
    const e = await endpoint((_hit, res) => {
      res.writeHead(200, announce ? { "content-length": String(Buffer.byteLength(body)) } : {});
      res.end(body);
    });
    const r = rig([pod("a", e.port)], { maxBodyBytes: 200 });
    await r.rec.scrapes("a", 1, "too-large");
    expect(r.store.fresh("a")).toBeUndefined();
  });

  it("backs off a pod whose answers are unusable (too large, malformed) from 1 s, doubling; a usable one ends it", async () => {
    let clock = 0;
    let answer: "huge" | "html" | "good" = "huge";
    const a = await endpoint((hit, res) =>
      reply(res, answer === "huge" ? vllmBody(1).repeat(20) : answer === "html" ? "<html>" : vllmBody(hit.n)),
    );
    const b = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const r = rig([pod("a", a.port), pod("b", b.port)], { maxBodyBytes: 200, now: () => clock });
    const scrapesOf = (p: string) => r.rec.of(p).length;
    await r.rec.scrapes("a", 1, "too-large");
    // While the clock stands still, b is scraped every interval and a sits its turns out.
    await r.rec.scrapes("b", scrapesOf("b") + 5);
    expect(scrapesOf("a")).toBe(1);
    expect(r.scraper.stats().backedOff).toBeGreaterThanOrEqual(4);
    answer = "html";
    clock = 999;
    await r.rec.scrapes("b", scrapesOf("b") + 3);
    expect(scrapesOf("a")).toBe(1);
    clock = 1000;
    await r.rec.scrapes("a", 1, "malformed");
    // The second unusable answer in a row: 2 s from it.
    clock = 2999;
    await r.rec.scrapes("b", scrapesOf("b") + 3);
    expect(scrapesOf("a")).toBe(2);
    answer = "good";
    clock = 3000;
    await r.rec.scrapes("a", 1, "ok");
    // Usable again: scraped every interval.
    await r.rec.scrapes("a", 3, "ok");
    expect(r.store.entry("a")?.consecutiveFailures).toBe(0);
  });

  it("never overlaps two scrapes of one pod", async () => {
    // Each answer takes 4 intervals, so several ticks find the previous scrape still running.
    const e = await endpoint((hit, res) => {
      setTimeout(() => reply(res, vllmBody(hit.n)), INTERVAL_MS * 4);
    });
    const r = rig([pod("a", e.port)]);
    await r.rec.scrapes("a", 4, "ok");
    expect(e.maxConcurrentPerPath()).toBe(1);
    expect(r.scraper.stats().skippedBusy).toBeGreaterThan(0);
  });

  it("keeps at most `concurrency` scrapes in flight and serves every pod round-robin", async () => {
    const shared: Concurrency = { now: 0, max: 0 };
    const slow = (hit: { n: number }, res: Parameters<Parameters<typeof serve>[0]>[1]): void => {
      setTimeout(() => reply(res, vllmBody(hit.n)), INTERVAL_MS * 3);
    };
    const eps = await Promise.all([1, 2, 3, 4, 5, 6].map(() => endpoint(slow, shared)));
    const keys = eps.map((_, i) => `p${i}`);
    const r = rig(
      eps.map((e, i) => pod(keys[i] ?? "", e.port)),
      { concurrency: 2 },
    );
    await r.rec.until(() => keys.every((k) => r.rec.of(k, "ok").length >= 2), "two ok scrapes of every pod");
    expect(shared.max).toBe(2);
    expect(r.scraper.stats().deferredAtBound).toBeGreaterThan(0);
    expect(r.scraper.stats().inFlight).toBeLessThanOrEqual(2);
  });

  it("does not scrape unready pods", async () => {
    const ready = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const unready = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const r = rig([pod("ready", ready.port), pod("unready", unready.port, { ready: false })]);
    await r.rec.scrapes("ready", 5, "ok");
    expect(unready.paths).toEqual([]);
    expect(r.store.entry("unready")).toBeUndefined();
  });

  it("uses /prometheus/metrics for trtllm and honours a custom path", async () => {
    const e = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const r = rig([pod("trt", e.port, { engine: "trtllm" })]);
    await r.rec.scrapes("trt", 1, "ok");
    expect(e.paths[0]).toBe("/prometheus/metrics");
    const c = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const r2 = rig([pod("custom", c.port)], { path: () => "/custom" });
    await r2.rec.scrapes("custom", 1, "ok");
    expect(c.paths[0]).toBe("/custom");
  });

  it("deletes a removed pod's entry and drops its scrape in flight", async () => {
    const a = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const b = await endpoint((hit, res) => (hit.n === 1 ? reply(res, vllmBody(1)) : undefined)); // then hangs
    const r = rig([pod("a", a.port), pod("b", b.port)], { timeoutMs: 60_000 });
    await r.rec.scrapes("b", 1, "ok");
    await b.requests(2); // b's second scrape is now hanging
    r.cluster.replace([pod("a", a.port)]);
    expect(r.store.entry("b")).toBeUndefined();
    await b.closedRequests(2); // the hanging request was aborted at once, not at the 60 s timeout
    const before = r.rec.of("a").length;
    await r.rec.scrapes("a", before + 3);
    expect(r.store.entry("b")).toBeUndefined();
    expect(r.rec.of("b")).toHaveLength(1);
    expect(b.paths).toHaveLength(2);
  });

  it("keeps scraping when the observer throws", async () => {
    const e = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const rec = recorder();
    let calls = 0;
    const throwing = {
      onScrape(...args: Parameters<NonNullable<typeof rec.observer.onScrape>>): void {
        calls += 1;
        rec.observer.onScrape?.(...args);
        throw new Error("observer bug");
      },
    };
    const r = rig([pod("a", e.port)], { observer: throwing }, rec);
    await rec.scrapes("a", 3, "ok");
    expect(calls).toBeGreaterThanOrEqual(3);
    expect(r.store.fresh("a")?.requestsRunning).toBeGreaterThanOrEqual(3);
  });

  it("close() aborts a hanging scrape at once and leaves no open handles", async () => {
    const types = (): string[] => process.getActiveResourcesInfo().filter((t) => t !== "TTYWrap");
    const hang = await endpoint(() => undefined);
    const good = await endpoint((hit, res) => reply(res, vllmBody(hit.n)));
    const baseline = types();
    const r = rig([pod("hang", hang.port), pod("good", good.port)], { timeoutMs: 60_000 });
    await hang.requests(1);
    await r.rec.scrapes("good", 2, "ok");
    await r.scraper.close();
    await r.scraper.close(); // idempotent
    await hang.closedRequests(1);
    expect(r.scraper.stats().inFlight).toBe(0);
    const events = r.rec.events.length;
    await Promise.all(endpoints.map((e) => e.close()));
    endpoints = [];
    // Compare with what was open before the scraper started, once socket close callbacks (and the HTTP servers'
    // per-socket timers, which a loaded machine may run a few turns later) have run; a leak never settles.
    const count = (list: string[], t: string): number => list.filter((x) => x === t).length;
    const settled = (): boolean =>
      count(types(), "TCPSocketWrap") <= count(baseline, "TCPSocketWrap") &&
      count(types(), "Timeout") <= count(baseline, "Timeout");
    for (let turn = 0; turn < 200 && !settled(); turn++) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      if (turn >= 100) await new Promise<void>((resolve) => setTimeout(resolve, 10));
    }
    const left = types();
    expect(count(left, "TCPSocketWrap")).toBeLessThanOrEqual(count(baseline, "TCPSocketWrap"));
    expect(count(left, "Timeout")).toBeLessThanOrEqual(count(baseline, "Timeout"));
    expect(r.rec.events.length).toBe(events); // nothing reported after close
  });

  it.each<[string, Partial<ScraperOptions>]>([
    ["intervalMs 0", { intervalMs: 0 }],
    ["timeoutMs NaN", { timeoutMs: Number.NaN }],
    ["concurrency 0", { concurrency: 0 }],
    ["concurrency 1.5", { concurrency: 1.5 }],
    ["maxBodyBytes -1", { maxBodyBytes: -1 }],
  ])("rejects %s", (_t, bad) => {
    expect(() => rig([], bad)).toThrow(RangeError);
  });
});

describe("failure (Node error → closed reason)", () => {
  it.each([
    [{ code: "ECONNREFUSED" }, "connect-error", "ECONNREFUSED"],
    [{ code: "ECONNRESET" }, "connect-error", "ECONNRESET"],
    [{ code: "EHOSTUNREACH" }, "connect-error", "EHOSTUNREACH"],
    [{ code: "ENOTFOUND" }, "connect-error", "ENOTFOUND"],
    [{ code: "ETIMEDOUT" }, "timeout", "ETIMEDOUT"],
    [{ code: "HPE_INVALID_CONSTANT" }, "http-error", "HPE_INVALID_CONSTANT"],
    [new Error("socket hang up"), "connect-error", "socket hang up"],
    ["weird", "connect-error", "weird"],
  ])("%p → %s", (err, reason, message) => {
    expect(failure(err)).toEqual({ t: "failed", reason, message });
  });
});
