/**
 * The scrape thread's entry: the ordinary in-process scraper (`scraper.ts`) over a mirror of the fleet, whose
 * store writes, observer calls and log lines are recorded and sent to the main thread in batches (see
 * `scrape-thread-protocol.ts`). Runs from `dist/` (compiled `.js`) or through tsx from the `.ts` source.
 *
 * At the bound: while the main thread has `maxPendingBatches` batches it has not applied (its loop is stuck), new
 * results are dropped and counted instead of queued; scraping goes on, and the pods' metrics age out as usual.
 *
 * @module
 * @internal
 */
import { parentPort } from "node:worker_threads";
import { createClusterStore } from "../cluster-state";
import { createEngineMetricsStore } from "./engine-metrics-store";
import type { EngineMetricsStore } from "./engine-metrics-store";
import { startScraper } from "./scraper";
import type { Scraper } from "./scraper";
import { FLUSH_MS } from "./scrape-thread-protocol";
import type { FromThread, ThreadEvent, ThreadInit, ToThread } from "./scrape-thread-protocol";

const port = parentPort;
if (!port) throw new Error("scrape-thread-main must run as a worker thread");

const cluster = createClusterStore();
let scraper: Scraper | undefined;
let events: ThreadEvent[] = [];
let dropped = 0;
let flushTimer: NodeJS.Timeout | undefined;
let pending: Int32Array | undefined;
let maxPending = 0;

function send(m: FromThread): void {
  port?.postMessage(m);
}

function flush(): void {
  flushTimer = undefined;
  if (!scraper || !pending) return;
  const batch = events;
  events = [];
  if (Atomics.load(pending, 0) >= maxPending) {
    for (const e of batch) if (e.k === "scrape") dropped += 1;
    return;
  }
  const t = performance.now();
  const out = batch.map((e) => (e.k === "ok" ? { ...e, ageMs: Math.max(0, t - e.metrics.scrapedAtMs) } : e));
  Atomics.add(pending, 0, 1);
  send({ t: "batch", events: out, stats: scraper.stats(), dropped });
}

function emit(e: ThreadEvent): void {
  events.push(e);
  flushTimer ??= setTimeout(flush, FLUSH_MS);
}

/** A real store (the scraper reads its keys to forget departed pods) whose writes are also sent. */
function recordingStore(): EngineMetricsStore {
  const local = createEngineMetricsStore({ staleAfterMs: Number.MAX_SAFE_INTEGER });
  return {
    ...local,
    record(key, metrics) {
      local.record(key, metrics);
      emit({ k: "ok", key, metrics, ageMs: 0 });
    },
    recordFailure(key, reason, message = reason) {
      local.recordFailure(key, reason, message);
      emit({ k: "fail", key, reason, message });
    },
  };
}

function start(init: ThreadInit): void {
  pending = new Int32Array(init.pending);
  maxPending = init.maxPendingBatches;
  scraper = startScraper({
    cluster,
    store: recordingStore(),
    intervalMs: init.intervalMs,
    timeoutMs: init.timeoutMs,
    concurrency: init.concurrency,
    ...(init.maxBodyBytes !== undefined ? { maxBodyBytes: init.maxBodyBytes } : {}),
    ...(init.staleAfterMs !== undefined ? { staleAfterMs: init.staleAfterMs } : {}),
    ...(init.log
      ? {
          log: {
            warn: (obj: object, msg: string) => emit({ k: "log", level: "warn", obj, msg }),
            info: (obj: object, msg: string) => emit({ k: "log", level: "info", obj, msg }),
          },
        }
      : {}),
    observer: {
      onScrape: (key, seconds, result) => emit({ k: "scrape", key, seconds, result }),
      onParseProblems: (key, problems) => emit({ k: "problems", key, problems }),
    },
  });
}

port.on("message", (m: ToThread) => {
  if (m.t === "init") start(m);
  else if (m.t === "pods") cluster.replace(m.pods);
  else if (m.t === "close") {
    void (scraper?.close() ?? Promise.resolve()).then(() => {
      clearTimeout(flushTimer);
      flush();
      send({ t: "closed" });
    });
  }
});
