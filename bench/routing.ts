/**
 * `npm run bench -- routing`: routing quality of every strategy on one simulated fleet and one seeded workload.
 *
 * One `kvroute-sim` child hosts the pods (`routing-fleet.ts`). For each strategy in turn: a fresh kvroute child
 * (fresh prefix indexes) with that `--routing-algorithm` (plus `--kv-events-static` for the precise variants), a
 * settle pause (first scrapes, KV-event subscriptions), every pod's prefix cache reset, then the workload run
 * open-loop through the Envoy driver (`e2e/run-workload.ts`) in this process. Measured per strategy: the pods'
 * prefix-cache hit rate and preemptions (vLLM counters, before/after), TTFT and end-to-end percentiles, output
 * tokens/s, requests per pod and their CV, and kvroute's mean decision time (its own histogram).
 *
 * Output: a table on stdout, the ranking check (`routing-report.ts`), the metrics check (`routing-metrics-check.ts`:
 * each strategy's first replica's `/metrics` before it stops, through `promtool check metrics` when promtool is on
 * PATH, and the request-level families seen), `--json FILE`, and an SVG chart.
 *
 * Router replicas (`--router-replicas N`, default 1): N kvroute children per strategy with the same flags (in
 * precise mode every replica subscribes to every pod's KV events: a ZeroMQ PUB fans out to every SUB, and the
 * replay ROUTER answers each replica's DEALER), and the driver spreads the requests over them round-robin, as
 * Envoy load-balances ext_proc streams over a kvroute Service with N endpoints (`e2e/replicated-driver.ts`).
 * Each replica's approximate index then sees only its share of the traffic, while KV events reach all of
 * them: the active-active condition under which the field's precise-vs-approximate gap appears (llm-d
 * discourages active-active for approximate prefix routing). `--scenario single|ha` names the two
 * configurations of the ranking check (see {@link SCENARIOS}).
 *
 * Defaults are llm-d's 73-capacity workload (inference-perf shared-prefix, 150 groups × 5 prompts) scaled to
 * the `demo` preset (4 pods × 65,536 KV tokens) and 2 cores: 96 groups × 2,048-token system prompts = 197k
 * tokens, 75% of the fleet's KV (73-capacity: 73%), 5 prompts per group as there, 128-token questions, 64
 * output tokens (short, so the driver's SSE work stays small next to the pods'). A pod that sees every group
 * (random, load-only) must evict, one that owns a quarter of them need not. The rate is "under load" as the
 * field measures it: a cache-blind router's requests need ≈0.8 × 2,176 ≈ 1,740 prefill tokens each, a `demo`
 * pod prefills 10k tokens/s, so 4 pods saturate at ≈23 req/s; the default 28 req/s is 1.2× that, past
 * saturation for random and load-only routing, well within it for prefix routing (≈60% hits: ≈44 req/s). 480
 * requests take about 20–30 s per strategy.
 *
 * @module
 */
import { appendFileSync, mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startKvroute } from "./children";
import type { BenchChild, KvrouteChildOptions } from "./children";
import { readMooncakeTrace, mooncakeWorkload } from "./e2e/mooncake";
import { ReplicatedDriver } from "./e2e/replicated-driver";
import { longPromptMixWorkload } from "./e2e/long-prompt-mix";
import { runWorkload } from "./e2e/run-workload";
import type { RequestRecord } from "./e2e/run-workload";
import { multiTurnWorkload, sharedPrefixWorkload } from "./e2e/workloads";
import type { Workload } from "./e2e/workloads";
import { machine } from "./machine";
import { runOverloadBenchmark } from "./overload";
import { formatOverload } from "./overload-table";
import { overloadWorkload } from "./overload-workload";
import { ProgressBar } from "./progress";
import { routingChartSvg } from "./routing-chart";
import { checkScrape, foldChecks, formatMetricsCheck } from "./routing-metrics-check";
import type { MetricsCheck, ScrapeCheck } from "./routing-metrics-check";
import { counterDelta, podCounters, resetPrefixCaches, startSimFleet } from "./routing-fleet";
import type { SimFleet } from "./routing-fleet";
import { parseRoutingOptions, ROUTING_USAGE } from "./routing-options";
import { formatPdTable, LONG_MIX_DEFAULTS, stallPercentiles, tpotPercentiles } from "./routing-pd";
import type { RoutingOptions, ScenarioName, StrategySpec } from "./routing-options";
import { checkRanking, formatRanking, formatTable } from "./routing-report";
import type { RankingCheck, StrategyResult } from "./routing-report";

export { parseRoutingOptions, ROUTING_USAGE, SCENARIOS, STRATEGIES } from "./routing-options";
export type { RoutingOptions, ScenarioName } from "./routing-options";

/** Served model name of the simulated pods. */
const MODEL = "sim-model";
/** Time after kvroute is ready for its first metric scrapes and KV-event subscriptions (ZeroMQ slow joiner). */
const SETTLE_MS = 1500;

/**
 * The seeded workload. Text is sized for the `character` tokenizer (one token per byte), which both kvroute and
 * the pods use by default, so designed lengths are exact and tokenizing costs neither side much CPU.
 */
export function buildWorkload(o: RoutingOptions): Workload {
  let w: Workload;
  if (o.workload === "shared-prefix") {
    w = sharedPrefixWorkload({
      seed: o.seed,
      rate: o.rate,
      numGroups: o.groups,
      promptsPerGroup: o.promptsPerGroup,
      outputTokens: o.outputTokens ?? 64,
      scale: o.scale,
      tokenizer: "character",
    });
  } else if (o.workload === "multi-turn") {
    w = multiTurnWorkload({
      seed: o.seed,
      rate: o.rate,
      users: o.groups,
      answerTokens: o.outputTokens ?? 100,
      scale: o.scale,
      tokenizer: "character",
    });
  } else if (o.workload === "long-prompt-mix") {
    w = longPromptMixWorkload({
      seed: o.seed,
      rate: o.rate,
      requests: o.requests ?? LONG_MIX_DEFAULTS.requests,
      outputTokens: o.outputTokens ?? LONG_MIX_DEFAULTS.outputTokens,
      scale: o.scale,
      tokenizer: "character",
    });
  } else if (o.workload === "overload") {
    // The overload scenario sets its own rate (× saturation, `overload.ts`); this is the mix at --rate.
    return overloadWorkload({ seed: o.seed, rate: o.rate, requests: o.requests ?? o.overload.requests });
  } else {
    // --rate is the trace's speedup here (Dynamo's --speedup-ratio).
    w = mooncakeWorkload(readMooncakeTrace(o.trace), {
      seed: o.seed,
      speedup: o.rate,
      scale: o.scale,
      tokenizer: "character",
    });
  }
  if (o.requests === undefined || o.requests >= w.requests.length) return w;
  // Keep the first N by time; a kept turn never waits for a dropped one (turns follow earlier turns only).
  return { ...w, requests: w.requests.slice(0, o.requests) };
}

/** Sum and count of kvroute's decision histogram (all strategies' label sets). */
async function decisionStats(child: BenchChild): Promise<{ sum: number; count: number }> {
  const text = await (await fetch(`http://127.0.0.1:${String(child.httpPort)}/metrics`)).text();
  let sum = 0;
  let count = 0;
  for (const m of text.matchAll(/^kvroute_decision_duration_seconds_(sum|count)(?:\{[^}]*\})? (\S+)$/gm)) {
    if (m[1] === "sum") sum += Number(m[2]);
    else count += Number(m[2]);
  }
  return { sum, count };
}

/** {@link decisionStats} summed over every replica. */
async function fleetDecisionStats(children: readonly BenchChild[]): Promise<{ sum: number; count: number }> {
  const all = await Promise.all(children.map(decisionStats));
  return all.reduce((a, b) => ({ sum: a.sum + b.sum, count: a.count + b.count }), { sum: 0, count: 0 });
}

/** Start `n` kvroute children with the same flags; on any failure the started ones are stopped. */
async function startReplicas(
  n: number,
  o: Omit<KvrouteChildOptions, "name">,
  name: string,
): Promise<BenchChild[]> {
  const started = await Promise.allSettled(
    Array.from({ length: n }, (_, i) => startKvroute({ ...o, name: n === 1 ? name : `${name}-${i}` })),
  );
  const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) {
    await Promise.all(started.map((r) => (r.status === "fulfilled" ? r.value.stop() : undefined)));
    throw failed.reason;
  }
  return started.map((r) => (r as PromiseFulfilledResult<BenchChild>).value);
}

/** The metrics check of `child` (its first replica), a failed scrape reported as a problem rather than thrown. */
async function scrapeCheck(child: BenchChild | undefined): Promise<ScrapeCheck> {
  const problem = (line: string): ScrapeCheck => ({
    promtool: { t: "problems", lines: [line] },
    present: new Set(),
  });
  if (child?.httpPort === undefined) return problem("no kvroute HTTP port to scrape");
  try {
    return await checkScrape(child.httpPort);
  } catch (e) {
    return problem(`scraping ${child.name}'s /metrics failed: ${(e as Error).message}`);
  }
}

/** Run `workload` once under strategy `s` against `fleet`, behind `replicas` kvroute children. */
async function runStrategy(
  s: StrategySpec,
  workload: Workload,
  fleet: SimFleet,
  replicas: number,
  showProgress: boolean,
): Promise<{ result: StrategyResult; scrape: ScrapeCheck; records: RequestRecord[] }> {
  const extraArgs = ["--tokenizer", "character", "--metrics-interval-ms", "50"];
  if (s.kvEvents)
    extraArgs.push(
      "--kv-events-static",
      ...["--kv-events-port", String(fleet.kvPort), "--kv-events-replay-port", String(fleet.kvReplayPort)],
    );
  const kvroutes = await startReplicas(
    replicas,
    { endpointsFile: fleet.endpointsFile, logLevel: "warn", routingAlgorithm: s.algorithm, extraArgs },
    `kvroute-${s.key}`,
  );
  const driver = new ReplicatedDriver(kvroutes.map((k) => `127.0.0.1:${k.grpcPort}`));
  try {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    // After the subscriptions are up, so kvroute's event index sees the `cleared` events too.
    await resetPrefixCaches(fleet.pods);
    const before = await podCounters(fleet.pods);
    const d0 = await fleetDecisionStats(kvroutes);
    const bar = showProgress ? new ProgressBar(s.label.padEnd(22), workload.requests.length) : undefined;
    let failed = 0;
    const { summary, records } = await runWorkload(workload, {
      driver,
      model: MODEL,
      pods: fleet.pods,
      onRecord: (r, done) => {
        if (!r.ok) failed++;
        bar?.update(done, failed ? `${failed} failed` : "");
      },
    });
    bar?.finish();
    const d1 = await fleetDecisionStats(kvroutes);
    const delta = counterDelta(before, await podCounters(fleet.pods));
    // Before the replicas stop: what a Prometheus would scrape from one of them after the run.
    const scrape = await scrapeCheck(kvroutes[0]);
    const result: StrategyResult = {
      strategy: s.label,
      algorithm: s.algorithm,
      kvEvents: s.kvEvents,
      routerReplicas: replicas,
      perReplica: driver.perReplica(),
      requests: summary.requests,
      succeeded: summary.succeeded,
      errors: summary.errors,
      hitRate: delta.prefixQueries > 0 ? delta.prefixHits / delta.prefixQueries : 0,
      usageHitRate: summary.prefixCacheHitRate,
      preemptions: delta.preemptions,
      ttftMs: summary.ttftMs,
      e2eMs: summary.e2eMs,
      outputTokensPerSecond: summary.outputTokensPerSecond,
      wallSeconds: summary.wallSeconds,
      perPod: summary.perPod,
      loadSpreadCv: summary.loadSpreadCv,
      decisionMeanUs: d1.count > d0.count ? ((d1.sum - d0.sum) / (d1.count - d0.count)) * 1e6 : Number.NaN,
      driverDecisionMs: summary.decisionMs,
      fleet: fleet.roles ?? `${fleet.pods.length} pods`,
      tpotMs: tpotPercentiles(records),
      stallMs: stallPercentiles(records),
    };
    return { result, scrape, records };
  } finally {
    driver.close();
    await Promise.all(kvroutes.map((k) => k.stop()));
  }
}

/**
 * `--records`: one JSON line per request of `strategy` (when it was sent, its prefix group, the pod, TTFT and the
 * cached tokens the pod reported), to see which requests make a percentile.
 */
function recordLines(strategy: string, records: readonly RequestRecord[]): string {
  return records
    .map((r) =>
      JSON.stringify({
        strategy,
        id: r.id,
        group: r.expectedPrefixGroup,
        sentMs: Math.round(r.sentMs),
        pod: r.pod,
        ok: r.ok,
        decisionMs: r.decisionMs === undefined ? undefined : Math.round(r.decisionMs),
        ttftMs: r.ttftMs === undefined ? undefined : Math.round(r.ttftMs),
        e2eMs: Math.round(r.e2eMs),
        inputTokens: r.inputTokens,
        cachedTokens: r.cachedTokens,
      }),
    )
    .map((l) => `${l}\n`)
    .join("");
}

/** Everything one run produced (also what `--json` writes). */
export interface RoutingReport {
  readonly benchmark: "routing";
  readonly date: string;
  readonly machine: string;
  /** `--scenario`, or null when none was named. */
  readonly scenario: ScenarioName | null;
  /** kvroute replicas per strategy (requests spread round-robin). */
  readonly routerReplicas: number;
  readonly options: Omit<RoutingOptions, "strategies"> & { strategies: string[] };
  readonly requests: number;
  readonly results: StrategyResult[];
  readonly ranking: RankingCheck;
  /** promtool's verdict on the replicas' `/metrics` and the request-level families seen there. */
  readonly metrics: MetricsCheck;
  readonly chart: string;
}

/** "1 kvroute" / "2 kvroute replicas (round-robin)". */
export function replicasText(n: number): string {
  return n === 1 ? "1 kvroute" : `${n} kvroute replicas (round-robin)`;
}

/** Run every selected strategy and write the chart (and JSON); the report is returned, nothing printed. */
export async function runRoutingBenchmark(
  o: RoutingOptions,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<RoutingReport> {
  const workload = buildWorkload(o);
  log(
    `routing: ${o.scenario ? `scenario ${o.scenario}, ` : ""}${workload.name}, ` +
      `${workload.requests.length} requests, ${o.pods} × ${o.preset} pods, ${replicasText(o.routerReplicas)}, ` +
      `${o.strategies.length} strategies`,
  );
  // One fleet at a time: undisaggregated pods, or the prefill/decode layout of the `disaggregated` strategies
  // (the same number of simulated GPUs); switched when the next strategy needs the other one.
  let fleet: SimFleet | undefined;
  if (o.records !== undefined) writeFileSync(o.records, "");
  const results: StrategyResult[] = [];
  const scrapes: ScrapeCheck[] = [];
  try {
    for (const s of o.strategies) {
      const roles = s.disaggregated === true ? o.pdRoles : undefined;
      if (fleet === undefined || fleet.roles !== roles) {
        await fleet?.stop();
        fleet = undefined;
        fleet = await startSimFleet({
          pods: o.pods,
          preset: o.preset,
          model: MODEL,
          ...(roles === undefined ? {} : { roles }),
        });
      }
      const {
        result: r,
        scrape,
        records,
      } = await runStrategy(s, workload, fleet, o.routerReplicas, o.progress);
      if (o.records !== undefined) appendFileSync(o.records, recordLines(s.key, records));
      log(`  ${s.label}: ${r.succeeded}/${r.requests} ok in ${r.wallSeconds.toFixed(1)} s`);
      results.push(r);
      scrapes.push(scrape);
    }
  } finally {
    await fleet?.stop();
  }
  const ranking = checkRanking(results, { scenario: o.scenario ?? null, routerReplicas: o.routerReplicas });
  const rate = o.workload === "mooncake" ? `speedup ${o.rate}` : `${o.rate} req/s`;
  const title = `kvroute routing quality: ${workload.name}, ${workload.requests.length} requests, ${rate}`;
  const subtitle =
    `${o.pods} simulated pods (preset ${o.preset}), ${replicasText(o.routerReplicas)}, seed ${o.seed}; ` +
    machine();
  mkdirSync(path.dirname(path.resolve(o.chart)), { recursive: true });
  writeFileSync(o.chart, routingChartSvg(results, title, subtitle));
  const report: RoutingReport = {
    benchmark: "routing",
    date: new Date().toISOString(),
    machine: machine(),
    scenario: o.scenario ?? null,
    routerReplicas: o.routerReplicas,
    options: { ...o, strategies: o.strategies.map((s) => s.key) },
    requests: workload.requests.length,
    results,
    ranking,
    metrics: foldChecks(scrapes),
    chart: path.resolve(o.chart),
  };
  if (o.json) writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
  return report;
}

/** The `npm run bench -- routing` entry; resolves with the exit code. */
export async function runRouting(argv: readonly string[]): Promise<number> {
  let o: RoutingOptions;
  try {
    o = parseRoutingOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\nusage: npm run bench -- ${ROUTING_USAGE}\n`);
    return 2;
  }
  if (o.workload === "overload") {
    const overload = await runOverloadBenchmark(o);
    process.stdout.write(`\n${formatOverload(overload)}\n`);
    if (o.json) process.stdout.write(`json: ${path.resolve(o.json)}\n`);
    return 0;
  }
  const report = await runRoutingBenchmark(o);
  const heading = `${o.scenario ? `scenario ${o.scenario}: ` : ""}${replicasText(o.routerReplicas)}`;
  process.stdout.write(`\n${heading}\n${formatTable(report.results)}\n\n`);
  if (o.workload === "shared-prefix") process.stdout.write(`${formatRanking(report.ranking)}\n\n`);
  if (o.workload === "long-prompt-mix" || o.pdRoles !== undefined)
    process.stdout.write(`time to first token and per output token:\n${formatPdTable(report.results)}\n\n`);
  process.stdout.write(`${formatMetricsCheck(report.metrics)}\n`);
  if (o.json) process.stdout.write(`json: ${path.resolve(o.json)}\n`);
  process.stdout.write(`chart: ${report.chart}\n`);
  return 0;
}
