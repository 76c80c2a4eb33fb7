/**
 * `npm run bench -- routing --scenario overload`: the simulated fleet driven past saturation by tenants of
 * different priority (`overload-workload.ts`), once with kvroute's flow control on and once off
 * (`--flow-control=false`), on the same seeded workload. For each mode: a run at `--saturation` × the fleet's
 * saturation rate, and an unloaded run of the same mix at {@link UNLOADED_MULTIPLE} ×, whose high-priority TTFT p90
 * is the reference the loaded one is held to. Figures per band and the targets: `overload-report.ts`,
 * `overload-table.ts`.
 *
 * The saturation rate is {@link DEFAULT_SATURATION_RATE} (measured on the default fleet, see there),
 * `--saturation-rate R`, or measured by a sweep at the start of the run (`--measure-saturation`,
 * `overload-saturation.ts`).
 *
 * Each run gets a fresh kvroute (fresh queues and fairness state) in front of the same fleet, whose prefix caches
 * are reset between runs. Envoy's per-message timeout is the shipped config's 60 s (`envoy/envoy.yaml`), so a
 * request held in flow control's queue is answered by kvroute (admitted, or dropped with a reason), not cut off
 * by the driver.
 *
 * @module
 */
import { mkdirSync, writeFileSync } from "node:fs";
import path from "node:path";
import { startKvroute } from "./children";
import { machine } from "./machine";
import { ReplicatedDriver } from "./e2e/replicated-driver";
import { runWorkload } from "./e2e/run-workload";
import { percentiles } from "./e2e/run-workload";
import type { Workload } from "./e2e/workloads";
import { bandResult, fairness } from "./overload-report";
import type { OverloadRecord } from "./overload-report";
import { sampleWaiting, saturationRateOf } from "./overload-saturation";
import type { SaturationPoint } from "./overload-saturation";
import { checkTargets } from "./overload-table";
import type {
  FlowControlMode,
  OverloadModeResult,
  OverloadReport,
  OverloadRunResult,
} from "./overload-table";
import {
  FAIRNESS_TENANTS,
  OVERLOAD_BANDS,
  overloadWorkload,
  PRIORITY_HEADER,
  USER_HEADER,
} from "./overload-workload";
import { ProgressBar } from "./progress";
import { resetPrefixCaches, startSimFleet } from "./routing-fleet";
import type { SimFleet } from "./routing-fleet";
import type { RoutingOptions } from "./routing-options";

/** Served model name of the simulated pods. */
const MODEL = "sim-model";
/** Time after kvroute is ready for its first metric scrapes. */
const SETTLE_MS = 1500;
/** Envoy's `message_timeout` in the shipped config. */
const MESSAGE_TIMEOUT_MS = 60_000;
/** Load of the unloaded reference run, × saturation. */
export const UNLOADED_MULTIPLE = 0.5;

/**
 * Saturation of the default fleet (2 `demo` pods) under the overload mix, requests/s, as measured by
 * `--measure-saturation` on the 2-core reference machine while other work shared it (load average ≈ 10): TTFT p90
 * 728 ms and 0.25 waiting per pod at 6.0 req/s, 1,352 ms and 0.86 at 8.4, 1,921 ms and 2.76 at 10.2 (the knee).
 * Back of the envelope: a 1,500-token prompt costs a `demo` pod 0.15 s of prefill and its 32 decode steps share
 * batches, so ≈ 6 requests/s per pod on an idle machine; the simulator's steps run late when the cores are busy.
 */
export const DEFAULT_SATURATION_RATE = 8.4;
/** Rates of the sweep, × the assumed saturation rate; it stops at the first step that queues. */
const SWEEP_MULTIPLES = [0.5, 0.7, 0.85, 1, 1.15, 1.3, 1.5, 1.75, 2] as const;
/** Length of one sweep step (s of offered load). */
const SWEEP_STEP_SECONDS = 10;

/** kvroute flags of a mode: `on` runs kvroute's defaults (flow control is on by default), `off` turns it off. */
export function flowControlArgs(mode: FlowControlMode): string[] {
  return mode === "off" ? ["--flow-control=false"] : [];
}

/**
 * kvroute's flow-control counters after a run, summed over label sets other than `result`/`reason`: saturation
 * checks by verdict (`free`, `unknown-free`, `saturated`, `unknown-saturated`), dispatched from the queue, dropped by
 * reason. They say why flow control held back (or did not), which the client's figures alone cannot. Empty when
 * the scrape fails or flow control is off.
 */
async function flowCounters(httpPort: number | undefined): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  if (httpPort === undefined) return out;
  try {
    const text = await (await fetch(`http://127.0.0.1:${String(httpPort)}/metrics`)).text();
    const re = /^kvroute_flow_(saturation_checks|dispatched|dropped)_total\{([^}]*)\} (\S+)$/gm;
    for (const m of text.matchAll(re)) {
      const label = /(?:result|reason)="([^"]*)"/.exec(m[2] ?? "")?.[1];
      const key = label === undefined ? (m[1] ?? "") : `${m[1] ?? ""}:${label}`;
      out[key] = (out[key] ?? 0) + Number(m[3]);
    }
  } catch {
    // No counters: reported as none.
  }
  return out;
}

/** One open-loop run of `workload` through a fresh kvroute; records tagged with tenant and band. */
async function runOnce(
  label: string,
  workload: Workload,
  fleet: SimFleet,
  o: RoutingOptions,
  mode: FlowControlMode,
  onRunning?: () => { stop(): Promise<number> },
): Promise<{
  records: OverloadRecord[];
  wallSeconds: number;
  meanWaiting: number;
  counters: Record<string, number>;
}> {
  const kvroute = await startKvroute({
    name: `kvroute-overload-${mode}`,
    endpointsFile: fleet.endpointsFile,
    logLevel: "warn",
    routingAlgorithm: o.strategies[0]?.algorithm ?? "least-request",
    extraArgs: [
      ...["--tokenizer", "character", "--metrics-interval-ms", "50"],
      ...o.overload.kvrouteArgs,
      ...flowControlArgs(mode),
    ],
  });
  const driver = new ReplicatedDriver([`127.0.0.1:${kvroute.grpcPort}`], {
    messageTimeoutMs: MESSAGE_TIMEOUT_MS,
  });
  try {
    await new Promise((resolve) => setTimeout(resolve, SETTLE_MS));
    await resetPrefixCaches(fleet.pods);
    const bar = o.progress ? new ProgressBar(label.padEnd(22), workload.requests.length) : undefined;
    let failed = 0;
    const sampler = onRunning?.();
    const { records, summary } = await runWorkload(workload, {
      driver,
      model: MODEL,
      pods: fleet.pods,
      onRecord: (r, done) => {
        if (!r.ok) failed++;
        bar?.update(done, failed ? `${failed} not served` : "");
      },
    });
    bar?.finish();
    const meanWaiting = sampler ? await sampler.stop() : 0;
    const counters = await flowCounters(kvroute.httpPort);
    const tenantOf = new Map(workload.requests.map((r) => [r.id, r.headers ?? {}]));
    const tagged = records.map((record) => {
      const h = tenantOf.get(record.id) ?? {};
      const priority = Number(h[PRIORITY_HEADER]);
      const band = OVERLOAD_BANDS.find((b) => b.priority === priority)?.name ?? "unknown";
      return { record, tenant: h[USER_HEADER] ?? "unknown", band };
    });
    return { records: tagged, wallSeconds: summary.wallSeconds, meanWaiting, counters };
  } finally {
    driver.close();
    await kvroute.stop();
  }
}

/** Sending window of a workload (ms): its last scheduled send. */
function windowOf(w: Workload): number {
  return w.requests.reduce((m, r) => Math.max(m, r.atMs), 0);
}

/** One run's figures. */
async function measuredRun(
  o: RoutingOptions,
  fleet: SimFleet,
  mode: FlowControlMode,
  multiple: number,
  saturationRate: number,
  requests: number,
): Promise<OverloadRunResult> {
  const rate = multiple * saturationRate;
  const workload = overloadWorkload({ seed: o.seed, rate, requests });
  const label = `fc ${mode} ${multiple}x`;
  const { records, wallSeconds, counters } = await runOnce(label, workload, fleet, o, mode);
  const windowMs = windowOf(workload);
  const bands = OVERLOAD_BANDS.map((b) => bandResult(b, records, windowMs));
  return {
    flowControl: mode,
    saturation: multiple,
    rate,
    requests: workload.requests.length,
    windowSeconds: windowMs / 1000,
    wallSeconds,
    bands,
    fairness: fairness(records, FAIRNESS_TENANTS, windowMs),
    lost: bands.reduce((s, b) => s + b.lost, 0),
    flowCounters: counters,
  };
}

/** The sweep: rising rates until the first that queues (see `overload-saturation.ts`). */
async function sweep(
  o: RoutingOptions,
  fleet: SimFleet,
  around: number,
  mode: FlowControlMode,
  log: (line: string) => void,
): Promise<SaturationPoint[]> {
  const points: SaturationPoint[] = [];
  for (const m of SWEEP_MULTIPLES) {
    const rate = m * around;
    const workload = overloadWorkload({
      seed: o.seed,
      rate,
      requests: Math.round(rate * SWEEP_STEP_SECONDS),
    });
    const { records, meanWaiting } = await runOnce(
      `sweep ${rate.toFixed(1)}/s`,
      workload,
      fleet,
      o,
      mode,
      () => sampleWaiting(fleet.pods, 250),
    );
    const ttfts = records.map((r) => r.record.ttftMs).filter((t): t is number => t !== undefined);
    const point = { rate, ttftP90Ms: percentiles(ttfts).p90, meanWaiting };
    points.push(point);
    log(
      `  sweep ${rate.toFixed(1)} req/s: TTFT p90 ${point.ttftP90Ms.toFixed(0)} ms, mean waiting/pod ${meanWaiting.toFixed(2)}`,
    );
    if (saturationRateOf(points) !== undefined) break;
  }
  return points;
}

/** Run the overload scenario; the report is returned (and written to `--json`), nothing printed but progress. */
export async function runOverloadBenchmark(
  o: RoutingOptions,
  log: (line: string) => void = (l) => process.stderr.write(`${l}\n`),
): Promise<OverloadReport> {
  const loadedRequests = o.requests ?? o.overload.requests;
  log(
    `routing: scenario overload, ${loadedRequests} requests at ${o.overload.saturation}x saturation ` +
      `(+ ${o.overload.unloadedRequests} at ${UNLOADED_MULTIPLE}x), ${o.pods} × ${o.preset} pods, ` +
      `flow control ${o.overload.flowControl.join(" vs ")}`,
  );
  const fleet = await startSimFleet({ pods: o.pods, preset: o.preset, model: MODEL });
  const modes: OverloadModeResult[] = [];
  let sweepPoints: SaturationPoint[] | undefined;
  let saturationRate = o.overload.saturationRate ?? DEFAULT_SATURATION_RATE;
  try {
    if (o.overload.measureSaturation) {
      const sweepMode = o.overload.flowControl.includes("off") ? "off" : (o.overload.flowControl[0] ?? "on");
      sweepPoints = await sweep(o, fleet, saturationRate, sweepMode, log);
      const found = saturationRateOf(sweepPoints);
      if (found === undefined) throw new Error("saturation sweep found no knee; pass --saturation-rate");
      saturationRate = found;
      log(`  saturation: ${saturationRate.toFixed(1)} req/s`);
    }
    for (const mode of o.overload.flowControl) {
      const unloaded = await measuredRun(
        o,
        fleet,
        mode,
        UNLOADED_MULTIPLE,
        saturationRate,
        o.overload.unloadedRequests,
      );
      const loaded = await measuredRun(o, fleet, mode, o.overload.saturation, saturationRate, loadedRequests);
      log(`  flow control ${mode}: done (${loaded.wallSeconds.toFixed(0)} s loaded)`);
      modes.push({ mode, loaded, unloaded });
    }
  } finally {
    await fleet.stop();
  }
  const report: OverloadReport = {
    benchmark: "routing",
    scenario: "overload",
    date: new Date().toISOString(),
    machine: machine(),
    seed: o.seed,
    pods: o.pods,
    preset: o.preset,
    strategy: o.strategies[0]?.key ?? "least-request",
    saturationRate,
    saturationSource: sweepPoints ? "measured" : o.overload.saturationRate !== undefined ? "flag" : "default",
    ...(sweepPoints ? { sweep: sweepPoints } : {}),
    modes,
    targets: checkTargets(modes),
  };
  if (o.json) {
    mkdirSync(path.dirname(path.resolve(o.json)), { recursive: true });
    writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
  }
  return report;
}
