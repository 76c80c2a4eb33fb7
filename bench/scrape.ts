/**
 * `npm run bench -- scrape [--pods N] [--interval-ms N] [--seconds N] [--warmup N] [--body fixture|full]
 * [--concurrency N] [--timeout-ms N] [--part all|goals|breakdown] [--cpu-prof DIR] [--json FILE]`: what the
 * engine-metrics scraper costs, per pod per second, at the production interval.
 *
 * Goals (`--part goals`, `scrape-kvroute.ts`): the real kvroute process scraping the endpoints, its CPU (all
 * threads) and event-loop delay, against an idle kvroute in the same slices; `--cpu-prof DIR` profiles the
 * scraping kvroute. The default body is `full`: a real-size vLLM v1 body (~40 KB, every histogram family of one
 * model).
 *
 * Breakdown (`--part breakdown`): `--pods` real HTTP endpoints run in one child process (`scrape-endpoints.ts`) and serve the vLLM fixture's
 * format with values that change on every request (`scrape-body.ts`). This process runs the real `startScraper`
 * against them, with a real cluster store and metrics store. Three phases, each measured in 1 s slices taken
 * round-robin (order reversed every other round) so machine noise hits them alike:
 * - `idle`: the scraper stopped: this process's baseline (IPC, timers, the event-loop monitor);
 * - `fetch-only`: the same loop (ticks, HTTP over keep-alive, store writes) with parse + map replaced by a stub;
 * - `full`: the real scraper.
 * Each scraper slice starts a fresh scraper and lets it run 0.25 s unmeasured (connections opened) first.
 *
 * Reported per phase: scrapes/s achieved vs intended, errors, this process's CPU (`process.cpuUsage()`, user +
 * system µs) per second and net of the idle baseline (per pod per second and per scrape), parse + map time
 * measured inside the scraper, deferrals at the concurrency bound, event-loop delay, and the child's CPU.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import os from "node:os";
import { monitorEventLoopDelay } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { createClusterStore } from "../src/cluster/cluster-state";
import { createEngineMetricsStore, parsePrometheusText, startScraper } from "../src/cluster/metrics";
import type { ScraperStats } from "../src/cluster/metrics";
import { interpretMetricsBody, NO_PARSE_PROBLEMS } from "../src/cluster/metrics/scraper";
import type { Interpretation } from "../src/cluster/metrics/scraper";
import type { Pod } from "../src/cluster/pod";
import { jsonNumbers } from "./extproc-report";
import { createBodyRenderer } from "./scrape-body";
import type { BodyKind } from "./scrape-body";
import type { EndpointFleet } from "./scrape-fleet";
import { startEndpointFleet } from "./scrape-fleet";
import { formatGoalTable, goalExitCode } from "./goal-table";
import type { GoalRow } from "./goal-table";
import { kvrouteScrapeGoals, runKvrouteScrape } from "./scrape-kvroute";
import { PHASES, emptyTotals, formatTable, phaseFigures } from "./scrape-report";
import type { OfflineParse, PhaseName, PhaseTotals, RunShape } from "./scrape-report";

/** Usage text of this benchmark. */
export const SCRAPE_USAGE =
  "scrape [--pods N=100] [--interval-ms N=50] [--seconds N=5] [--warmup N=1] [--body fixture|full=full]\n" +
  "          [--concurrency N=32] [--timeout-ms N=1000] [--part all|goals|breakdown=all] [--cpu-prof DIR]\n" +
  "          [--in-loop]\n" +
  "          [--json FILE]";

const SETTLE_MS = 250;
/** The model every endpoint serves (the one in the bodies of `scrape-body.ts`). */
const MODEL = "meta-llama/Llama-3.1-8B-Instruct";
/** Event-loop delay sampling period, ms. Node's samples include it, so it is subtracted. */
const ELD_RESOLUTION_MS = 10;
const STALE_AFTER_MS = 2000;

interface Options {
  readonly pods: number;
  readonly intervalMs: number;
  readonly seconds: number;
  readonly warmup: number;
  readonly body: BodyKind;
  readonly concurrency: number;
  readonly timeoutMs: number;
  readonly json: string | undefined;
  readonly part: "all" | "goals" | "breakdown";
  readonly cpuProf: string | undefined;
  /** Run kvroute with `--metrics-scrape-thread false` (scraping on its event loop), for comparison. */
  readonly inLoop: boolean;
}

function positive(name: string, value: string | undefined, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`--${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`);
  }
  return n;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      pods: { type: "string" },
      "interval-ms": { type: "string" },
      seconds: { type: "string" },
      warmup: { type: "string" },
      body: { type: "string" },
      concurrency: { type: "string" },
      "timeout-ms": { type: "string" },
      json: { type: "string" },
      part: { type: "string" },
      "in-loop": { type: "boolean" },
      "cpu-prof": { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const body = values.body ?? "full";
  const part = values.part ?? "all";
  if (part !== "all" && part !== "goals" && part !== "breakdown")
    throw new Error(`--part must be all, goals or breakdown, got ${part}`);
  if (body !== "fixture" && body !== "full") throw new Error(`--body must be fixture or full, got ${body}`);
  return {
    pods: positive("pods", values.pods, 100, true),
    intervalMs: positive("interval-ms", values["interval-ms"], 50, false),
    seconds: positive("seconds", values.seconds, 5, false),
    warmup: values.warmup === "0" ? 0 : positive("warmup", values.warmup, 1, false),
    body,
    concurrency: positive("concurrency", values.concurrency, 32, true),
    timeoutMs: positive("timeout-ms", values["timeout-ms"], 1000, false),
    json: values.json,
    part,
    cpuProf: values["cpu-prof"],
    inLoop: values["in-loop"] ?? false,
  };
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const progress = (text: string): void => void process.stderr.write(`${text}\n`);

/** The fetch-only phase's stand-in for parse + map: a fixed, empty result. */
const NO_MODELS = new Map<string, never>();
function stubInterpret(_body: string, scrapedAtMs: number): Interpretation {
  return { t: "ok", metrics: { scrapedAtMs, byModel: NO_MODELS }, problems: NO_PARSE_PROBLEMS };
}

/** Mean µs per call of `f` over ~`ms` of calls, after a warm-up. */
function timeCalls(f: () => void, ms: number): number {
  for (let i = 0; i < 200; i++) f();
  let n = 0;
  const t0 = performance.now();
  while (performance.now() - t0 < ms) {
    for (let i = 0; i < 50; i++) f();
    n += 50;
  }
  return ((performance.now() - t0) * 1000) / n;
}

/** The pieces every slice shares. */
interface Rig {
  readonly o: Options;
  readonly fleet: EndpointFleet;
  readonly pods: readonly Pod[];
  readonly cluster: ReturnType<typeof createClusterStore>;
}

function pod(i: number, port: number): Pod {
  return {
    key: `bench/pod-${i}`,
    name: `pod-${i}`,
    namespace: "bench",
    ip: "127.0.0.1",
    port,
    address: `127.0.0.1:${port}`,
    metricsPort: port,
    models: [MODEL],
    adapters: [],
    ready: true,
    engine: "vllm",
    labels: {},
  };
}

/** Run `phase` for `seconds` (plus the unmeasured settle time) and add what was measured into `t`. */
async function slice(r: Rig, phase: PhaseName, seconds: number, t: PhaseTotals): Promise<void> {
  const store = createEngineMetricsStore({ staleAfterMs: STALE_AFTER_MS });
  const scraper =
    phase === "idle"
      ? undefined
      : startScraper({
          cluster: r.cluster,
          store,
          intervalMs: r.o.intervalMs,
          timeoutMs: r.o.timeoutMs,
          concurrency: r.o.concurrency,
          ...(phase === "fetch-only" ? { interpret: stubInterpret } : {}),
        });
  await sleep(SETTLE_MS);
  const s0: ScraperStats | undefined = scraper?.stats();
  const child0 = await r.fleet.cpuMicros();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  // A fresh histogram per slice: one re-enabled after a pause records the pause as a delay.
  const eld = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
  eld.enable();
  await sleep(seconds * 1000);
  eld.disable();
  const wall = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const child1 = await r.fleet.cpuMicros();
  const s1 = scraper?.stats();
  t.wallMs += wall;
  t.cpuMicros += cpu.user + cpu.system;
  t.systemMicros += cpu.system;
  t.childCpuMicros += child1 - child0;
  t.slices += 1;
  const beyond = (ns: number): number => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
  t.eventLoopDelayP99Ms = Math.max(t.eventLoopDelayP99Ms, beyond(eld.percentile(99)));
  t.eventLoopDelayMaxMs = Math.max(t.eventLoopDelayMaxMs, beyond(eld.max));
  if (s0 && s1) {
    t.started += s1.started - s0.started;
    for (const k of Object.keys(t.results) as (keyof PhaseTotals["results"])[]) {
      t.results[k] += s1.results[k] - s0.results[k];
    }
    t.interpreted += s1.interpreted - s0.interpreted;
    t.interpretMicros += s1.interpretMicros - s0.interpretMicros;
    t.deferredAtBound += s1.deferredAtBound - s0.deferredAtBound;
    t.skippedBusy += s1.skippedBusy - s0.skippedBusy;
    t.freshAtEnd += r.pods.filter((p) => store.fresh(p.key)?.requestsRunning !== undefined).length;
  }
  await scraper?.close();
}

/** The in-process breakdown (idle, fetch-only, full phases in this process); prints its table. */
async function runBreakdown(o: Options, fleet: EndpointFleet, sample: string): Promise<object> {
  const pods = fleet.ports.map((port, i) => pod(i, port));
  const cluster = createClusterStore();
  cluster.replace(pods);
  const r: Rig = { o, fleet, pods, cluster };
  const offline: OfflineParse = {
    interpretMicros: timeCalls(() => interpretMetricsBody(sample, 0), 500),
    parseAllMicros: timeCalls(() => parsePrometheusText(sample), 500),
  };
  if (o.warmup > 0) {
    progress(`warm-up: full scraper for ${o.warmup} s`);
    await slice(r, "full", o.warmup, emptyTotals());
  }
  const rounds = Math.max(1, Math.ceil(o.seconds));
  const sliceSeconds = o.seconds / rounds;
  const totals = new Map(PHASES.map((p) => [p, emptyTotals()] as const));
  progress(
    `measuring ${rounds} × ${sliceSeconds.toFixed(2)} s per phase (${PHASES.join(", ")}), interleaved`,
  );
  for (let round = 0; round < rounds; round++) {
    const order = round % 2 === 0 ? [...PHASES] : [...PHASES].reverse();
    for (const p of order) {
      const t = totals.get(p);
      if (t) await slice(r, p, sliceSeconds, t);
    }
  }
  const run: RunShape = {
    pods: o.pods,
    intervalMs: o.intervalMs,
    concurrency: o.concurrency,
    timeoutMs: o.timeoutMs,
    body: o.body,
    bodyBytes: Buffer.byteLength(sample),
    bodySamples: parsePrometheusText(sample).sampleLines,
    rounds,
    sliceSeconds,
  };
  const idle = totals.get("idle") ?? emptyTotals();
  const figures = PHASES.map((p) => phaseFigures(p, totals.get(p) ?? emptyTotals(), idle, run));
  process.stdout.write(`\n${formatTable(figures, run, offline)}\n`);
  return {
    run,
    cpuMeasurement:
      "process.cpuUsage() of the bench process (scraper side), user+system µs; net = minus idle",
    offline,
    phases: figures,
  };
}

/** The goal rows, measured in a real kvroute process; prints them. */
async function runGoals(o: Options, fleet: EndpointFleet, sample: string): Promise<GoalRow[]> {
  const kib = (Buffer.byteLength(sample) / 1024).toFixed(1);
  const samples = parsePrometheusText(sample).sampleLines;
  const where = o.inLoop ? "scraping on the event loop" : "scrape thread";
  const shape = `${o.pods} pods every ${o.intervalMs} ms, ${o.body} vLLM v1 body (${kib} KiB, ${samples} samples), ${where}`;
  const r = await runKvrouteScrape({
    ports: fleet.ports,
    model: MODEL,
    intervalMs: o.intervalMs,
    seconds: o.seconds,
    warmupSeconds: Math.max(1, o.warmup),
    execArgv: o.cpuProf ? ["--cpu-prof", "--cpu-prof-dir", o.cpuProf] : [],
    kvrouteArgs: o.inLoop ? ["--metrics-scrape-thread=false"] : [],
    progress,
  });
  const rows = kvrouteScrapeGoals(r, shape, Math.round((o.pods * 1000) / o.intervalMs));
  process.stdout.write(
    `\n${formatGoalTable("scrape (measured on this machine; shared machines are noisy)", rows)}`,
  );
  return rows;
}

/** Run the benchmark; resolves with the exit code. */
export async function runScrape(argv: readonly string[]): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\nusage: npm run bench -- ${SCRAPE_USAGE}\n`);
    return 2;
  }
  progress(`starting ${o.pods} metric endpoints (${o.body} body) in a child process`);
  const fleet = await startEndpointFleet(o.pods, o.body);
  try {
    const sample = createBodyRenderer(o.body)(1000);
    const rows = o.part === "breakdown" ? [] : await runGoals(o, fleet, sample);
    const breakdown = o.part === "goals" ? undefined : await runBreakdown(o, fleet, sample);
    if (o.json) {
      const out = {
        benchmark: "scrape",
        date: new Date().toISOString(),
        node: process.version,
        cpus: os.cpus().length,
        goals: rows,
        ...(breakdown ? { breakdown } : {}),
      };
      writeFileSync(o.json, `${JSON.stringify(out, jsonNumbers, 2)}\n`);
      progress(`wrote ${o.json}`);
    }
    return goalExitCode(rows);
  } finally {
    await fleet.stop();
  }
}
