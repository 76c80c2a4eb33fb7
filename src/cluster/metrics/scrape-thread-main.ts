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
import { lowerThisThreadPriority } from "../../background-thread-priority";
import { createClusterStore } from "../cluster-state";
import { createEngineMetricsStore } from "./engine-metrics-store";
import type { EngineMetricsStore } from "./engine-metrics-store";
import { startScraper } from "./scraper";
import type { Scraper } from "./scraper";
import { FLUSH_MS } from "./scrape-thread-protocol";
import { DROPPED_SLOT, PENDING_SLOT } from "./scrape-thread-protocol";
import type { FromThread, ThreadInit, ToThread } from "./scrape-thread-protocol";
import { WireWriter } from "./scrape-wire";

lowerThisThreadPriority();
const port = parentPort;
if (!port) throw new Error("scrape-thread-main must run as a worker thread");

const cluster = createClusterStore();
let scraper: Scraper | undefined;
const wire = new WireWriter();
let flushTimer: NodeJS.Timeout | undefined;
let shared: Int32Array | undefined;
let maxPending = 0;

function send(m: FromThread): void {
  port?.postMessage(m);
}

function flush(): void {
  flushTimer = undefined;
  if (!scraper || !shared) return;
  const batch = wire.take();
  if (Atomics.load(shared, PENDING_SLOT) >= maxPending) {
    Atomics.add(shared, DROPPED_SLOT, batch.keys.length);
    return;
  }
  Atomics.add(shared, PENDING_SLOT, 1);
  send({ t: "batch", wire: batch, stats: scraper.stats() });
}

function later(): void {
  flushTimer ??= setTimeout(flush, FLUSH_MS);
}

/** A real store (the scraper reads its keys to forget departed pods) whose writes also go into the batch. */
function recordingStore(): EngineMetricsStore {
  const local = createEngineMetricsStore({ staleAfterMs: Number.MAX_SAFE_INTEGER });
  return {
    ...local,
    record(key, metrics) {
      local.record(key, metrics);
      wire.ok(metrics);
    },
    recordFailure(key, reason, message = reason) {
      local.recordFailure(key, reason, message);
      wire.fail(reason, message);
    },
  };
}

function start(init: ThreadInit): void {
  shared = new Int32Array(init.shared);
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
            warn: (obj: object, msg: string) => wire.log("warn", obj, msg),
            info: (obj: object, msg: string) => wire.log("info", obj, msg),
          },
        }
      : {}),
    observer: {
      onScrape(key, seconds, result) {
        wire.scrape(key, seconds, result, performance.now());
        later();
      },
      onParseProblems: (_key, problems) => wire.problems(problems),
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
