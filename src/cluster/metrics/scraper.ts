/**
 * The engine-metrics scrape loop. Every `intervalMs` it walks the current cluster snapshot and starts a
 * `GET /metrics` (`/prometheus/metrics` for `trtllm`) on each ready pod whose previous scrape has finished, up to
 * `concurrency` scrapes in flight in total. Each good body is parsed (`prometheus-text.ts`), mapped
 * (`catalogue.ts`) and recorded in the {@link EngineMetricsStore}; each failure is recorded there too and leaves
 * the pod's last good metrics to age out. A hanging or failing pod costs only its own slot until its timeout.
 *
 * Starts are spread evenly over the interval, in up to {@link MAX_SPREAD_STEPS} steps at least
 * {@link MIN_SPREAD_STEP_MS} apart. A scrape costs this process ~130 µs of CPU (4.5 KB body) to ~270 µs (40 KB,
 * a real vLLM v1 body), so starting 100 pods at once held the event loop, and every routing decision behind it,
 * for ~10 ms each interval (`npm run bench -- scrape`, event-loop delay p99).
 *
 * At the bound: when `concurrency` scrapes are in flight, the other due pods wait in this interval's queue and
 * start as slots free up. A pod still waiting when the next interval begins has missed one: it is counted in
 * {@link ScraperStats.deferredAtBound} and goes to the front of the new queue, so a fleet that outgrows the bound
 * is served round-robin (each pod at a lower rate) rather than starving one end of it.
 *
 * @module
 */
import type { ClusterSnapshot, ClusterStore } from "../cluster-state";
import type { Pod } from "../pod";
import type { EngineMetricsStore, ScrapeResult } from "./engine-metrics-store";
import type { GetOutcome } from "./http-get";
import { createMetricsClient } from "./metrics-client";
import type { GetHandle } from "./metrics-client";
import { interpretMetricsBody, NO_PARSE_PROBLEMS } from "./interpret-body";
import type { Interpretation, ParseProblems, SampleFreshness } from "./interpret-body";
import { ScrapeBackoff } from "./scrape-backoff";
import { createScrapeStateLog } from "./scrape-state-log";
import type { ScrapeLog } from "./scrape-state-log";

export { interpretMetricsBody, NO_PARSE_PROBLEMS } from "./interpret-body";
export type { Interpretation, ParseProblems } from "./interpret-body";

/** Most steps an interval's scrape starts are spread over. */
export const MAX_SPREAD_STEPS = 10;
/** Shortest time between two spread steps, ms (a shorter interval gets fewer steps). */
export const MIN_SPREAD_STEP_MS = 5;

/** Default cap on one metrics body; a larger one aborts that scrape as `too-large`. */
export const DEFAULT_MAX_BODY_BYTES = 8 * 1024 * 1024;

/** Callbacks for metrics and logs. Called synchronously; an exception thrown from one is swallowed. */
export interface ScrapeObserver {
  /** One scrape ended: `seconds` from its start to its result (request, body, parse, record). */
  onScrape?(podKey: string, seconds: number, result: ScrapeResult): void;
  /** A body had problems inside (see `interpret-body.ts`); called only when there was at least one. */
  onParseProblems?(podKey: string, problems: ParseProblems): void;
}

/** What the scraper has done since it started. Counters only grow. */
export interface ScraperStats {
  /** Intervals begun (each walks the fleet once). */
  readonly ticks: number;
  /** Scrapes started. */
  readonly started: number;
  /** Scrapes ended, by result (cancelled ones are in neither). */
  readonly results: Readonly<Record<ScrapeResult, number>>;
  /** Ready pods passed over at their turn because their previous scrape was still running. */
  readonly skippedBusy: number;
  /** Due pods that waited a whole interval for a slot (`concurrency` scrapes were in flight), summed over ticks. */
  readonly deferredAtBound: number;
  /** Due pods passed over because their last answer was unusable (too large, malformed): {@link ScrapeBackoff}. */
  readonly backedOff: number;
  /** Scrapes in flight now. */
  readonly inFlight: number;
  /** Unreadable lines skipped inside otherwise good bodies. */
  readonly malformedLines: number;
  /** Good bodies cut short by the parser's line or sample cap. */
  readonly truncatedBodies: number;
  /** Bodies interpreted (parsed and mapped) and the CPU-side time that took in total, µs. */
  readonly interpreted: number;
  readonly interpretMicros: number;
}

/** Options of {@link startScraper}. Numbers come from `Config` (`metricsIntervalMs`, …). */
export interface ScraperOptions {
  readonly cluster: ClusterStore;
  readonly store: EngineMetricsStore;
  /** Tick period, ms (> 0). */
  readonly intervalMs: number;
  /** Per-scrape deadline, ms (> 0): connect, headers and body. */
  readonly timeoutMs: number;
  /** Most scrapes in flight at once across all pods (integer ≥ 1). */
  readonly concurrency: number;
  /** Clock for `scrapedAtMs` and durations, ms; must be the store's clock. Default `performance.now`. */
  readonly now?: () => number;
  readonly observer?: ScrapeObserver;
  /** Metrics path per pod. Default `/prometheus/metrics` for engine `trtllm`, else `/metrics`. */
  readonly path?: (pod: Pod) => string;
  /** Default {@link DEFAULT_MAX_BODY_BYTES}. */
  readonly maxBodyBytes?: number;
  /**
   * Sample timestamps older than this (ms, by `wallNow`) make their sample name missing, as the store's
   * staleness bound does for scrapes. Default: sample timestamps are not checked.
   */
  readonly staleAfterMs?: number;
  /** Wall clock, ms since the Unix epoch, for sample timestamps. Default `Date.now`. */
  readonly wallNow?: () => number;
  /** Where a pod starting to fail, and recovering, is logged (once per change, rate-limited). Default: nowhere. */
  readonly log?: ScrapeLog;
  /** @internal Replace parse + catalogue (benchmarks measure the loop without parsing). */
  readonly interpret?: (
    body: string,
    scrapedAtMs: number,
    freshness?: SampleFreshness,
    rank?: number,
  ) => Interpretation;
}

/** A running scrape loop. */
export interface Scraper {
  /** Stop ticking, abort scrapes in flight, close pooled sockets. Resolves when nothing is left; idempotent. */
  close(): Promise<void>;
  stats(): ScraperStats;
}

/** The default metrics path of a pod's engine. */
export function defaultMetricsPath(pod: Pod): string {
  return pod.engine === "trtllm" ? "/prometheus/metrics" : "/metrics";
}

/** @throws RangeError when an interval, timeout, concurrency or body limit of `o` is out of range. */
export function checkScraperOptions(o: ScraperOptions): void {
  const { intervalMs, timeoutMs, concurrency } = o;
  const maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  if (!(intervalMs > 0)) throw new RangeError(`intervalMs ${intervalMs} must be > 0`);
  if (!(timeoutMs > 0)) throw new RangeError(`timeoutMs ${timeoutMs} must be > 0`);
  if (!Number.isInteger(concurrency) || concurrency < 1)
    throw new RangeError(`concurrency ${concurrency} must be an integer >= 1`);
  if (!(maxBodyBytes > 0)) throw new RangeError(`maxBodyBytes ${maxBodyBytes} must be > 0`);
}

/** Every counter zero. */
export function emptyScraperStats(): ScraperStats {
  return {
    ticks: 0,
    started: 0,
    results: { ok: 0, "http-error": 0, timeout: 0, "connect-error": 0, "too-large": 0, malformed: 0 },
    skippedBusy: 0,
    deferredAtBound: 0,
    backedOff: 0,
    inFlight: 0,
    malformedLines: 0,
    truncatedBodies: 0,
    interpreted: 0,
    interpretMicros: 0,
  };
}

interface Job {
  handle: GetHandle | undefined;
  cancelled: boolean;
}

/**
 * Start scraping. The first interval begins at once, then every `intervalMs` (the timers are unref'd). Never throws after
 * it has started and never leaves a rejected promise.
 *
 * @throws RangeError when an interval, timeout, concurrency or body limit is out of range.
 */
export function startScraper(o: ScraperOptions): Scraper {
  checkScraperOptions(o);
  const { cluster, store, intervalMs, timeoutMs, concurrency } = o;
  const maxBodyBytes = o.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;
  const now = o.now ?? (() => performance.now());
  const pathOf = o.path ?? defaultMetricsPath;
  const interpret = o.interpret ?? interpretMetricsBody;
  const wallNow = o.wallNow ?? Date.now;
  const stateLog = o.log ? createScrapeStateLog(o.log, { now }) : undefined;
  const limits = { timeoutMs, maxBodyBytes };
  // One socket per pod at most (scrapes of a pod never overlap); idle sockets are unref'd.
  const client = createMetricsClient();
  const inFlight = new Map<string, Job>();
  const backoff = new ScrapeBackoff();
  const results: Record<ScrapeResult, number> = {
    ok: 0,
    "http-error": 0,
    timeout: 0,
    "connect-error": 0,
    "too-large": 0,
    malformed: 0,
  };
  const counts = {
    ticks: 0,
    started: 0,
    skippedBusy: 0,
    deferredAtBound: 0,
    backedOff: 0,
    malformedLines: 0,
    truncatedBodies: 0,
    interpreted: 0,
    interpretMicros: 0,
  };
  let closed = false;
  let closing: Promise<void> | undefined;
  let seen: ClusterSnapshot | undefined;
  /** This interval's due pods; those before `head` have been started. */
  let queue: Pod[] = [];
  let head = 0;
  /** Spreading: steps per interval, the step we are at, starts allowed per step and starts allowed now. */
  const steps = Math.max(1, Math.min(MAX_SPREAD_STEPS, Math.floor(intervalMs / MIN_SPREAD_STEP_MS)));
  let step = 0;
  let perStep = 0;
  let allowance = 0;

  /** Drop what belongs to pods no longer in the fleet: store entries, scrapes in flight, idle sockets. */
  function reconcile(snapshot: ClusterSnapshot): void {
    if (snapshot === seen) return;
    const previous = seen;
    seen = snapshot;
    for (const key of store.keys()) {
      if (snapshot.pods.has(key)) continue;
      store.delete(key);
      stateLog?.forget(key);
      backoff.forget(key);
    }
    for (const [key, job] of inFlight) {
      if (snapshot.pods.has(key)) continue;
      job.cancelled = true;
      job.handle?.cancel();
    }
    if (!previous) return;
    for (const [key, pod] of previous.pods) {
      const next = snapshot.pods.get(key);
      if (next && next.ip === pod.ip && next.metricsPort === pod.metricsPort) continue;
      client.forget(key);
    }
  }

  function tick(): void {
    if (closed) return;
    counts.ticks += 1;
    const snapshot = cluster.snapshot();
    reconcile(snapshot);
    const next: Pod[] = [];
    const queued = new Set<string>();
    const nowMs = now();
    const enqueue = (key: string): void => {
      const pod = snapshot.pods.get(key);
      if (!pod || !pod.ready || queued.has(key)) return;
      if (backoff.holds(key, nowMs)) {
        counts.backedOff += 1;
        return;
      }
      queued.add(key);
      next.push(pod);
    };
    // Pods left waiting since the last tick go first.
    for (let i = head; i < queue.length; i++) {
      const left = queue[i];
      if (!left) continue;
      counts.deferredAtBound += 1;
      enqueue(left.key);
    }
    for (const key of snapshot.pods.keys()) enqueue(key);
    queue = next;
    head = 0;
    perStep = Math.ceil(next.length / steps);
    allowance = 0;
  }

  /** One spread step: a new interval every `steps` steps, then this step's share of starts. */
  function onStep(): void {
    if (closed) return;
    if (step === 0) tick();
    step = (step + 1) % steps;
    allowance += perStep;
    pump();
  }

  /** Start queued pods while this step allows and slots are free (also called as scrapes end). */
  function pump(): void {
    while (!closed && allowance > 0 && head < queue.length && inFlight.size < concurrency) {
      const pod = queue[head];
      head += 1;
      const current = pod && seen?.pods.get(pod.key);
      if (!current || !current.ready) continue;
      // Checked at the pod's turn, not when the interval began: a pod started late in the last interval has
      // had a whole interval to finish by now.
      if (inFlight.has(current.key)) {
        counts.skippedBusy += 1;
        continue;
      }
      allowance -= 1;
      scrape(current);
    }
  }

  function scrape(pod: Pod): void {
    const job: Job = { handle: undefined, cancelled: false };
    const startedMs = now();
    counts.started += 1;
    inFlight.set(pod.key, job);
    const target = { host: pod.ip, port: pod.metricsPort, path: pathOf(pod) };
    job.handle = client.get(pod.key, target, limits, (outcome) => {
      try {
        settle(pod.key, pod.dataParallelRank, job, outcome, startedMs);
      } finally {
        if (inFlight.get(pod.key) === job) inFlight.delete(pod.key);
        // A cancel comes from inside reconcile() or close(): start the next pod once that is over.
        if (outcome.t === "cancelled") queueMicrotask(pump);
        else pump();
      }
    });
  }

  function settle(
    podKey: string,
    rank: number | undefined,
    job: Job,
    outcome: GetOutcome,
    startedMs: number,
  ): void {
    if (outcome.t === "cancelled" || job.cancelled || closed) return;
    let result: ScrapeResult;
    let detail: string | undefined;
    if (outcome.t === "failed") {
      result = outcome.reason;
      detail = outcome.message;
      store.recordFailure(podKey, outcome.reason, outcome.message);
    } else {
      const scrapedAtMs = now();
      const t0 = performance.now();
      let r: Interpretation;
      const freshness =
        o.staleAfterMs === undefined ? undefined : { wallNowMs: wallNow(), staleAfterMs: o.staleAfterMs };
      try {
        r = interpret(outcome.text, scrapedAtMs, freshness, rank);
      } catch {
        r = { t: "malformed", detail: "unreadable", problems: NO_PARSE_PROBLEMS };
      }
      counts.interpretMicros += (performance.now() - t0) * 1000;
      counts.interpreted += 1;
      counts.malformedLines += r.problems.malformedLines;
      if (r.problems.truncated) counts.truncatedBodies += 1;
      if (r.t === "ok") {
        result = "ok";
        store.record(podKey, r.metrics);
      } else {
        result = "malformed";
        detail = `${r.detail} (${outcome.bytes} bytes)`;
        store.recordFailure(podKey, "malformed", detail);
      }
      reportProblems(podKey, r.problems);
    }
    results[result] += 1;
    backoff.settled(podKey, result === "too-large" || result === "malformed", now());
    stateLog?.onResult(podKey, result, detail);
    try {
      o.observer?.onScrape?.(podKey, (now() - startedMs) / 1000, result);
    } catch {
      // An observer bug must not stop scraping.
    }
  }

  function reportProblems(podKey: string, p: ParseProblems): void {
    if (p.malformedLines === 0 && !p.truncated && !p.afterEof && p.staleSamples === 0) return;
    try {
      o.observer?.onParseProblems?.(podKey, p);
    } catch {
      // As above.
    }
  }

  const unsubscribe = cluster.onChange((s) => {
    if (!closed) reconcile(s);
  });
  // Steps run on deadlines from one start time, not setInterval: Node re-arms an interval after its callback, so
  // the period drifts by the callback's lateness (measured: 3-5% fewer scrapes than intended at 50 ms).
  const stepMs = intervalMs / steps;
  let nextStepAt = performance.now();
  let timer: NodeJS.Timeout | undefined;
  const arm = (): void => {
    const t = performance.now();
    nextStepAt += stepMs;
    // After a long stall (event loop blocked for over an interval), carry on from now instead of bursting.
    if (nextStepAt < t - intervalMs) nextStepAt = t;
    timer = setTimeout(run, Math.max(0, nextStepAt - t));
    timer.unref();
  };
  const run = (): void => {
    onStep();
    if (!closed) arm();
  };
  run();

  return {
    close() {
      if (closing) return closing;
      closed = true;
      queue = [];
      clearTimeout(timer);
      unsubscribe();
      for (const job of [...inFlight.values()]) {
        job.cancelled = true;
        job.handle?.cancel();
      }
      inFlight.clear();
      client.close();
      closing = Promise.resolve();
      return closing;
    },
    stats: () => ({ ...counts, results: { ...results }, inFlight: inFlight.size }),
  };
}
