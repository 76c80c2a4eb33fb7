/**
 * The scraper on its own thread: {@link startScraperThread} has the API and the semantics of `startScraper`, but
 * the schedule, the HTTP exchanges, the parse and the catalogue run in a `worker_threads` worker
 * (`scrape-thread-main.ts`), so none of it holds the ext_proc event loop. What reaches this loop is one batch per
 * `FLUSH_MS` (10 ms, `scrape-thread-protocol.ts`) at most, in compact form (`scrape-wire.ts`): the store writes,
 * observer calls (scrape results feed passive health from there) and state-log lines of the in-process scraper,
 * replayed in order. A result reaches the store up to `FLUSH_MS` later than in-process; its `scrapedAtMs` is when
 * the scrape ended, on this thread's clock. Results for pods that have left the fleet by the
 * time their batch arrives are dropped, as the in-process scraper drops a cancelled scrape.
 *
 * Lifecycle: the thread starts here and stops in `close()` (the scraper closes inside it, then it is terminated;
 * at most {@link CLOSE_TIMEOUT_MS}). A thread that dies is logged and started again after
 * {@link RESTART_DELAY_MS}, counted in {@link ThreadScraperStats.threadRestarts}; meanwhile pods' metrics age out.
 * Batches the loop has not applied are bounded ({@link MAX_PENDING_BATCHES}); beyond, the thread drops results and
 * counts them ({@link ThreadScraperStats.droppedResults}).
 *
 * @module
 */
import { join } from "node:path";
import { Worker } from "node:worker_threads";
import type { ClusterSnapshot } from "../cluster-state";
import type { Pod } from "../pod";
import { checkScraperOptions, emptyScraperStats } from "./scraper";
import type { Scraper, ScraperOptions, ScraperStats } from "./scraper";
import { DROPPED_SLOT, PENDING_SLOT, SHARED_BYTES } from "./scrape-thread-protocol";
import type { FromThread, ThreadBatch, ThreadInit, ToThread } from "./scrape-thread-protocol";
import { readWireBatch } from "./scrape-wire";
import type { ScrapeFailureReason } from "./engine-metrics-store";

/** Run `f`; an observer or log bug must not stop scraping (as in the in-process scraper). */
function guarded(f: () => void): void {
  try {
    f();
  } catch {
    // Swallowed on purpose.
  }
}

/** Batches sent by the thread and not yet applied here, at most (~1 s of results at one batch per 10 ms). */
export const MAX_PENDING_BATCHES = 100;
/** Wait before starting a thread that died again, ms. */
export const RESTART_DELAY_MS = 1000;
/** Longest `close()` waits for the thread to finish its scrapes before terminating it, ms. */
export const CLOSE_TIMEOUT_MS = 2000;

/** The in-process counters plus the thread's own. */
export interface ThreadScraperStats extends ScraperStats {
  /** Scrape results dropped in the thread while this loop had {@link MAX_PENDING_BATCHES} unapplied. */
  readonly droppedResults: number;
  /** Times the thread died and was started again. */
  readonly threadRestarts: number;
}

/** A scraper running on its own thread. */
export interface ThreadScraper extends Scraper {
  stats(): ThreadScraperStats;
  /** @internal Test hook: end the thread as a crash would. */
  crashThreadForTest(): Promise<void>;
}

/** The thread entry: compiled `.js` beside this file, or the `.ts` source through tsx (jest, tsx). */
function spawn(): Worker {
  if (__filename.endsWith(".js")) return new Worker(join(__dirname, "scrape-thread-main.js"));
  const tsx = require.resolve("tsx/cjs");
  const main = join(__dirname, "scrape-thread-main.ts");
  return new Worker(`require(${JSON.stringify(tsx)}); require(${JSON.stringify(main)});`, { eval: true });
}

/** What the thread needs of a pod (the rest may not survive structured cloning, and is not read there). */
function scrapeView(p: Pod): Pod {
  return {
    key: p.key,
    name: p.name,
    namespace: p.namespace,
    ip: p.ip,
    port: p.port,
    address: p.address,
    metricsPort: p.metricsPort,
    models: [],
    adapters: [],
    ready: p.ready,
    engine: p.engine,
    labels: {},
    ...(p.dataParallelRank === undefined ? {} : { dataParallelRank: p.dataParallelRank }),
  };
}

/**
 * Start the scrape thread. Takes {@link ScraperOptions} except `path`, `interpret` and `wallNow` (functions cannot
 * cross to the thread; it uses the defaults).
 *
 * `limits.maxPendingBatches` is the bound on batches sent and not yet applied (default {@link MAX_PENDING_BATCHES};
 * tests make it small); `limits.restartDelayMs` the wait before a thread that died is started again (default
 * {@link RESTART_DELAY_MS}; tests shorten it).
 *
 * @throws RangeError as `startScraper`; TypeError when `path`, `interpret` or `wallNow` is given.
 */
export function startScraperThread(
  o: ScraperOptions,
  limits: { readonly maxPendingBatches?: number; readonly restartDelayMs?: number } = {},
): ThreadScraper {
  checkScraperOptions(o);
  if (o.path || o.interpret || o.wallNow)
    throw new TypeError("path, interpret and wallNow cannot be passed to the scrape thread");
  const { cluster, store } = o;
  const now = o.now ?? (() => performance.now());
  const restartDelayMs = limits.restartDelayMs ?? RESTART_DELAY_MS;
  const shared = new Int32Array(new SharedArrayBuffer(SHARED_BYTES));
  let stats: ScraperStats = emptyScraperStats();
  let restarts = 0;
  let worker: Worker | undefined;
  let restartTimer: NodeJS.Timeout | undefined;
  let closing: Promise<void> | undefined;
  let onClosed: (() => void) | undefined;

  const post = (m: ToThread): void => worker?.postMessage(m);
  const podsOf = (s: ClusterSnapshot): Pod[] => [...s.pods.values()].map(scrapeView);

  function apply(b: ThreadBatch): void {
    Atomics.sub(shared, PENDING_SLOT, 1);
    stats = b.stats;
    const pods = cluster.snapshot().pods;
    for (const s of readWireBatch(b.wire, now())) {
      // Left the fleet while its result was on the way: dropped, as the in-process scraper drops a cancelled one.
      const present = pods.has(s.key);
      if (present) {
        if (s.metrics) store.record(s.key, s.metrics);
        else store.recordFailure(s.key, s.result as ScrapeFailureReason, s.message);
      }
      for (const e of s.extras) {
        guarded(() => {
          if (e.k === "log") (e.level === "warn" ? o.log?.warn : o.log?.info)?.call(o.log, e.obj, e.msg);
          else if (e.k === "problems" && present) o.observer?.onParseProblems?.(s.key, e.problems);
        });
      }
      if (present) guarded(() => o.observer?.onScrape?.(s.key, s.seconds, s.result));
    }
  }

  function start(): void {
    restartTimer = undefined;
    Atomics.store(shared, PENDING_SLOT, 0);
    const w = spawn();
    worker = w;
    // Like the in-process scraper's unref'd timers: scraping alone does not keep the process alive.
    w.unref();
    w.on("message", (m: FromThread) => {
      if (worker !== w && !closing) return; // a batch from a thread that has since died and been replaced
      if (m.t === "batch") apply(m);
      else onClosed?.();
    });
    w.on("error", () => undefined); // followed by "exit", handled there
    w.on("exit", (code) => {
      if (worker !== w) return;
      worker = undefined;
      if (closing) {
        onClosed?.();
        return;
      }
      restarts += 1;
      try {
        o.log?.warn(
          { exitCode: code, restarts, restartInMs: restartDelayMs },
          "engine metrics scrape thread stopped; starting it again (pods' metrics age out meanwhile)",
        );
      } catch {
        // As above.
      }
      restartTimer = setTimeout(start, restartDelayMs);
      restartTimer.unref();
    });
    const init: ThreadInit = {
      t: "init",
      intervalMs: o.intervalMs,
      timeoutMs: o.timeoutMs,
      concurrency: o.concurrency,
      maxBodyBytes: o.maxBodyBytes,
      staleAfterMs: o.staleAfterMs,
      log: o.log !== undefined,
      shared: shared.buffer as SharedArrayBuffer,
      maxPendingBatches: limits.maxPendingBatches ?? MAX_PENDING_BATCHES,
    };
    post(init);
    post({ t: "pods", pods: podsOf(cluster.snapshot()) });
  }

  /** Forget departed pods here (the thread forgets its own state); tell the thread the new fleet. */
  const unsubscribe = cluster.onChange((s) => {
    if (closing) return;
    for (const key of [...store.keys()]) if (!s.pods.has(key)) store.delete(key);
    post({ t: "pods", pods: podsOf(s) });
  });
  start();

  return {
    close() {
      if (closing) return closing;
      unsubscribe();
      clearTimeout(restartTimer);
      const w = worker;
      closing = new Promise<void>((resolve) => {
        if (!w) {
          resolve();
          return;
        }
        const timer = setTimeout(() => onClosed?.(), CLOSE_TIMEOUT_MS);
        onClosed = () => {
          onClosed = undefined;
          clearTimeout(timer);
          worker = undefined;
          void w.terminate().then(() => resolve());
        };
        w.postMessage({ t: "close" } satisfies ToThread);
      });
      return closing;
    },
    stats: () => ({ ...stats, droppedResults: Atomics.load(shared, DROPPED_SLOT), threadRestarts: restarts }),
    async crashThreadForTest() {
      const w = worker;
      if (w) await w.terminate();
    },
  };
}
