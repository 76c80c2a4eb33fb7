/**
 * Test helpers for the scraper: real loopback metric endpoints that count requests (and concurrent requests per
 * path), pods pointing at them, and an observer whose events tests can await, so nothing waits on a sleep.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { ScrapeResult } from "../../../src/cluster/metrics/engine-metrics-store";
import type { ScrapeObserver } from "../../../src/cluster/metrics/scraper";
import type { Pod } from "../../../src/cluster/pod";

/** Failure guard only: every wait resolves on an event long before this. */
export const GUARD_MS = 5000;

/** Resolve when `done()` holds; re-checked by `poke()`. Rejects after {@link GUARD_MS}. */
function waitable(): { until(done: () => boolean, what: string): Promise<void>; poke(): void } {
  const waiters = new Set<() => boolean>();
  return {
    poke() {
      for (const w of waiters) if (w()) waiters.delete(w);
    },
    until(done, what) {
      if (done()) return Promise.resolve();
      return new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`timed out waiting for ${what}`));
        }, GUARD_MS);
        const check = (): boolean => {
          if (!done()) return false;
          clearTimeout(timer);
          resolve();
          return true;
        };
        waiters.add(check);
      });
    },
  };
}

/** Shared across endpoints: requests in flight over all of them, and the most ever seen at once. */
export interface Concurrency {
  now: number;
  max: number;
}

/** What a handler is told about its request. */
export interface Hit {
  /** 1-based request number on this endpoint. */
  readonly n: number;
  readonly path: string;
}

/** A loopback metrics endpoint. */
export interface Endpoint {
  readonly port: number;
  /** Requests received so far, and their paths. */
  readonly paths: string[];
  /** Requests whose handler has not finished. */
  inFlight(): number;
  /** The most requests in flight at once on one path. */
  maxConcurrentPerPath(): number;
  /** Resolves once `n` requests have arrived. */
  requests(n: number): Promise<void>;
  /** Resolves once `n` requests have been closed (answered or dropped). */
  closedRequests(n: number): Promise<void>;
  close(): Promise<void>;
}

/** Serve `handler` on 127.0.0.1:0. The handler owns `res` (it may never answer, to simulate a hang). */
export async function serve(
  handler: (hit: Hit, res: http.ServerResponse) => void,
  shared?: Concurrency,
): Promise<Endpoint> {
  const paths: string[] = [];
  const perPath = new Map<string, number>();
  let maxPerPath = 0;
  let inFlight = 0;
  let closed = 0;
  const w = waitable();
  const server = http.createServer((req, res) => {
    const path = req.url ?? "";
    paths.push(path);
    inFlight += 1;
    perPath.set(path, (perPath.get(path) ?? 0) + 1);
    maxPerPath = Math.max(maxPerPath, perPath.get(path) ?? 0);
    if (shared) shared.max = Math.max(shared.max, (shared.now += 1));
    let done = false;
    const end = (): void => {
      if (done) return;
      done = true;
      inFlight -= 1;
      closed += 1;
      perPath.set(path, (perPath.get(path) ?? 1) - 1);
      if (shared) shared.now -= 1;
      w.poke();
    };
    res.on("finish", end);
    res.on("close", end);
    w.poke();
    handler({ n: paths.length, path }, res);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return {
    port,
    paths,
    inFlight: () => inFlight,
    maxConcurrentPerPath: () => maxPerPath,
    requests: (n) => w.until(() => paths.length >= n, `${n} requests on :${port}`),
    closedRequests: (n) => w.until(() => closed >= n, `${n} closed requests on :${port}`),
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** Answer 200 with `body`. */
export function reply(res: http.ServerResponse, body: string, status = 200): void {
  res.writeHead(status, { "content-type": "text/plain; version=0.0.4; charset=utf-8" });
  res.end(body);
}

/** A vLLM-style body with the given running count. */
export function vllmBody(running: number, model = "m"): string {
  return (
    "# TYPE vllm:num_requests_running gauge\n" +
    `vllm:num_requests_running{engine="0",model_name="${model}"} ${running}.0\n` +
    `vllm:kv_cache_usage_perc{engine="0",model_name="${model}"} 0.5\n`
  );
}

/** A pod whose metrics port is `port` on 127.0.0.1. */
export function pod(key: string, port: number, o: { ready?: boolean; engine?: string } = {}): Pod {
  return {
    key,
    name: key,
    namespace: "test",
    ip: "127.0.0.1",
    port,
    address: `127.0.0.1:${port}`,
    metricsPort: port,
    models: ["m"],
    adapters: [],
    ready: o.ready ?? true,
    engine: o.engine ?? "vllm",
    labels: {},
  };
}

/** One observed scrape. */
export interface ScrapeEvent {
  readonly pod: string;
  readonly seconds: number;
  readonly result: ScrapeResult;
}

/** An observer recording every scrape, with awaitable conditions on what it saw. */
export interface Recorder {
  readonly observer: ScrapeObserver;
  readonly events: ScrapeEvent[];
  /** Events of one pod (optionally of one result). */
  of(pod: string, result?: ScrapeResult): ScrapeEvent[];
  /** Resolves once `pod` has had `n` scrapes with `result`. */
  scrapes(pod: string, n: number, result?: ScrapeResult): Promise<void>;
  /** Run `check` after every event; resolves when it returns true. */
  until(check: () => boolean, what: string): Promise<void>;
}

export function recorder(onEvent?: (e: ScrapeEvent) => void): Recorder {
  const events: ScrapeEvent[] = [];
  const w = waitable();
  const of = (p: string, result?: ScrapeResult): ScrapeEvent[] =>
    events.filter((e) => e.pod === p && (result === undefined || e.result === result));
  return {
    events,
    of,
    observer: {
      onScrape(p, seconds, result) {
        const e = { pod: p, seconds, result };
        events.push(e);
        onEvent?.(e);
        w.poke();
      },
    },
    scrapes: (p, n, result) =>
      w.until(() => of(p, result).length >= n, `${n} ${result ?? "any"} scrapes of ${p}`),
    until: (check, what) => w.until(check, what),
  };
}
