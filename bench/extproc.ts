/**
 * `npm run bench -- extproc [--seconds N] [--warmup N] [--initial-warmup N] [--concurrency N] [--json FILE]
 * [--skip-warn] [--cpu-prof DIR] [--workloads LIST]`: what kvroute costs per ext_proc conversation, next to a no-op
 * ext_proc server (the floor).
 *
 * Servers, each its own child process so client and server CPU are separate (`children.ts`):
 * - `floor`: `noop-extproc-server.ts`;
 * - `kvroute`: the real `main()`, `--standalone`, one model with 3 endpoints, `least-request`, `--log-level info`
 *   with stdout piped to and drained by this process (the per-request log line is part of the cost);
 * - `kvroute-warn`: the same at `--log-level warn` (no per-request line), unless `--skip-warn`.
 *
 * Each server process (and this client) is first warmed up for `--initial-warmup` s (default 3: the CPU per
 * conversation of a fresh process halves over its first ~3 s while the JIT settles). Then, per workload (`chat-1k`,
 * `chat-8k`), each server is warmed up for `--warmup` s and measured for `--seconds` s in 1 s slices taken
 * round-robin (floor, kvroute, kvroute-warn, then the next round in reverse order), so machine noise hits every
 * server alike.
 *
 * Measured per slice and summed: conversations and per-phase round trips (client side, ms); server CPU from
 * `process.cpuUsage()` of the child, asked over IPC before and after the slice (µs, user + system, all threads);
 * this process's CPU the same way; server read/write syscalls from `/proc/<pid>/io`; kvroute's stdout lines and
 * bytes; and kvroute's own mean decision time from its `/metrics` histogram (scraped outside the slices).
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { parseArgs } from "node:util";
import { loadExtProcDefinition } from "../src/extproc/proto";
import { startKvroute, startNoopServer } from "./children";
import { startLoopbackFleet } from "./loopback-fleet";
import type { BenchChild } from "./children";
import { ExtProcLoadClient, accumulate, emptyResult } from "./extproc-client";
import type { LoadResult } from "./extproc-client";
import { SSE_CHUNKS, buildWorkload } from "./extproc-workload";
import type { Workload } from "./extproc-workload";
import { formatTable, jsonNumbers, ratios, serverFigures } from "./extproc-report";
import type { ServerFigures, ServerTotals, WorkloadFigures } from "./extproc-report";

/** The model the workloads ask for (served by 3 loopback pods, `loopback-fleet.ts`). */
const MODEL = "m1";
/** The floor's fixed decision (see `noop-extproc-server.ts`); a header value, never dialled. */
const FLOOR_TARGET = "127.0.0.1:8000";
/** Workloads: name and prompt size in tokens. */
const WORKLOADS: readonly (readonly [string, number])[] = [
  ["chat-1k", 1000],
  ["chat-8k", 8000],
];

/** Parsed command line. */
interface Options {
  readonly seconds: number;
  readonly warmup: number;
  readonly initialWarmup: number;
  readonly concurrency: number;
  readonly json: string | undefined;
  readonly skipWarn: boolean;
  readonly cpuProf: string | undefined;
  /** Workloads to run, in order. */
  readonly workloads: readonly (readonly [string, number])[];
}

/** Usage text of this benchmark. */
export const EXTPROC_USAGE =
  "extproc [--seconds N=5] [--warmup N=1] [--initial-warmup N=3] [--concurrency N=16]\n" +
  "          [--json FILE] [--skip-warn] [--cpu-prof DIR] [--workloads chat-1k,chat-8k]";

function positive(name: string, value: string | undefined, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`--${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`);
  }
  return n;
}

/** The workloads named in `list` (comma-separated, in that order), or all of them. */
function selectWorkloads(list: string | undefined): (readonly [string, number])[] {
  if (list === undefined) return [...WORKLOADS];
  return list.split(",").map((name) => {
    const w = WORKLOADS.find(([n]) => n === name.trim());
    if (!w)
      throw new Error(`--workloads: unknown workload ${name}; known: ${WORKLOADS.map(([n]) => n).join(",")}`);
    return w;
  });
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seconds: { type: "string" },
      warmup: { type: "string" },
      "initial-warmup": { type: "string" },
      concurrency: { type: "string" },
      json: { type: "string" },
      "skip-warn": { type: "boolean" },
      "cpu-prof": { type: "string" },
      workloads: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    seconds: positive("seconds", values.seconds, 5, false),
    warmup: values.warmup === "0" ? 0 : positive("warmup", values.warmup, 1, false),
    initialWarmup:
      values["initial-warmup"] === "0" ? 0 : positive("initial-warmup", values["initial-warmup"], 3, false),
    concurrency: positive("concurrency", values.concurrency, 16, true),
    json: values.json,
    skipWarn: values["skip-warn"] ?? false,
    cpuProf: values["cpu-prof"],
    workloads: selectWorkloads(values.workloads),
  };
}

/** A server under test with its client. */
interface Target {
  readonly child: BenchChild;
  readonly client: ExtProcLoadClient;
}

/** Sum and count of kvroute's `kvroute_decision_duration_seconds` histogram (all label sets). */
interface DecisionStats {
  readonly sum: number;
  readonly count: number;
}

/** Scrape kvroute's decision-time histogram from its admin `/metrics`; undefined for the floor or on failure. */
async function decisionStats(child: BenchChild): Promise<DecisionStats | undefined> {
  if (child.httpPort === undefined) return undefined;
  try {
    const text = await (await fetch(`http://127.0.0.1:${child.httpPort}/metrics`)).text();
    let sum = 0;
    let count = 0;
    for (const m of text.matchAll(/^kvroute_decision_duration_seconds_(sum|count)(?:\{[^}]*\})? (\S+)$/gm)) {
      if (m[1] === "sum") sum += Number(m[2]);
      else count += Number(m[2]);
    }
    return { sum, count };
  } catch {
    return undefined;
  }
}

/** Raw totals being accumulated for one server. */
interface Totals {
  load: LoadResult;
  serverCpuMicros: number;
  clientCpuMicros: number;
  logLines: number;
  logBytes: number;
  syscallReads: number;
  syscallWrites: number;
}

function newTotals(): Totals {
  return {
    load: emptyResult(),
    serverCpuMicros: 0,
    clientCpuMicros: 0,
    logLines: 0,
    logBytes: 0,
    syscallReads: 0,
    syscallWrites: 0,
  };
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** One measured slice on one server, added into `totals`. */
async function measureSlice(
  t: Target,
  w: Workload,
  o: Options,
  sliceSeconds: number,
  seq: { next: number },
  totals: Totals,
): Promise<void> {
  const lines0 = t.child.stdoutLines();
  const bytes0 = t.child.stdoutBytes();
  const sys0 = t.child.syscalls();
  const cpu0 = await t.child.cpuMicros();
  const client0 = process.cpuUsage();
  const load = await t.client.run(w, o.concurrency, sliceSeconds, seq);
  const client = process.cpuUsage(client0);
  const cpu1 = await t.child.cpuMicros();
  const sys1 = t.child.syscalls();
  // Let the last log lines of the slice reach the pipe before counting them.
  await new Promise((resolve) => setTimeout(resolve, 20));
  accumulate(totals.load, load);
  totals.serverCpuMicros += cpu1 - cpu0;
  totals.clientCpuMicros += client.user + client.system;
  totals.logLines += t.child.stdoutLines() - lines0;
  totals.logBytes += t.child.stdoutBytes() - bytes0;
  totals.syscallReads += sys0 && sys1 ? sys1.reads - sys0.reads : Number.NaN;
  totals.syscallWrites += sys0 && sys1 ? sys1.writes - sys0.writes : Number.NaN;
}

/** Warm up, then measure every target on `w` in interleaved slices. */
async function runWorkload(targets: readonly Target[], w: Workload, o: Options): Promise<WorkloadFigures> {
  const seq = { next: 1 };
  for (const t of targets) {
    if (o.warmup <= 0) break;
    progress(`  ${w.name}: warm-up ${t.child.name} (${o.warmup} s)`);
    await t.client.run(w, o.concurrency, o.warmup, seq);
  }
  const rounds = Math.max(1, Math.ceil(o.seconds));
  const slice = o.seconds / rounds;
  const totals = targets.map(newTotals);
  const decisions0 = await Promise.all(targets.map((t) => decisionStats(t.child)));
  progress(`  ${w.name}: measuring ${rounds} × ${slice.toFixed(2)} s per server, interleaved`);
  for (let r = 0; r < rounds; r++) {
    const order = targets.map((_, i) => i);
    if (r % 2 === 1) order.reverse();
    for (const i of order) {
      const t = targets[i];
      const into = totals[i];
      if (t && into) await measureSlice(t, w, o, slice, seq, into);
    }
  }
  const decisions1 = await Promise.all(targets.map((t) => decisionStats(t.child)));
  const servers: ServerFigures[] = targets.map((t, i) => {
    const [d0, d1] = [decisions0[i], decisions1[i]];
    const decisionMicros =
      d0 && d1 && d1.count > d0.count ? ((d1.sum - d0.sum) / (d1.count - d0.count)) * 1e6 : Number.NaN;
    const raw: ServerTotals = { server: t.child.name, ...(totals[i] ?? newTotals()), decisionMicros };
    return serverFigures(raw);
  });
  const [floor, ...others] = servers;
  const rs: WorkloadFigures["ratios"] = {};
  if (floor) for (const s of others) rs[s.server] = ratios(s, floor);
  return {
    workload: w.name,
    promptTokens: w.promptTokens,
    headerCount: w.headerCount,
    requestBodyBytes: w.requestBodyBytes,
    responseBodyBytes: w.responseBodyBytes,
    sseChunks: SSE_CHUNKS,
    concurrency: o.concurrency,
    servers,
    ratios: rs,
  };
}

/** Start the servers: the floor first, then kvroute at info and (unless skipped) at warn. */
async function startServers(o: Options, endpointsFile: string, started: BenchChild[]): Promise<void> {
  const kv = (name: string, logLevel: "info" | "warn"): Promise<BenchChild> =>
    startKvroute({
      name,
      endpointsFile,
      logLevel,
      routingAlgorithm: "least-request",
      ...(o.cpuProf ? { extraExecArgv: ["--cpu-prof", "--cpu-prof-dir", path.resolve(o.cpuProf)] } : {}),
    });
  const pending = [startNoopServer("floor"), kv("kvroute", "info")];
  if (!o.skipWarn) pending.push(kv("kvroute-warn", "warn"));
  const results = await Promise.allSettled(pending);
  for (const r of results) if (r.status === "fulfilled") started.push(r.value);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Run the benchmark; resolves with the exit code. */
export async function runExtProc(argv: readonly string[]): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\nusage: npm run bench -- ${EXTPROC_USAGE}\n`);
    return 2;
  }
  const fleet = await startLoopbackFleet(MODEL, 3);
  const children: BenchChild[] = [];
  const clients: ExtProcLoadClient[] = [];
  try {
    progress(`starting servers (${o.skipWarn ? "floor, kvroute" : "floor, kvroute, kvroute-warn"})`);
    await startServers(o, fleet.endpointsFile, children);
    const { processService } = loadExtProcDefinition();
    const method = processService.Process;
    const targets: Target[] = children.map((child) => {
      const client = new ExtProcLoadClient({
        address: `127.0.0.1:${child.grpcPort}`,
        decode: method.responseDeserialize,
        validTargets: new Set(child.name === "floor" ? [FLOOR_TARGET] : fleet.endpoints),
      });
      clients.push(client);
      return { child, client };
    });
    const encode = method.requestSerialize;
    const figures: WorkloadFigures[] = [];
    const workloads = o.workloads.map(([name, tokens]) => buildWorkload(name, MODEL, tokens, encode));
    const first = workloads[0];
    for (const t of targets) {
      if (!first || o.initialWarmup <= 0) break;
      progress(`initial warm-up ${t.child.name} (${o.initialWarmup} s, ${first.name})`);
      await t.client.run(first, o.concurrency, o.initialWarmup, { next: 1 });
    }
    for (const w of workloads) {
      const f = await runWorkload(targets, w, o);
      figures.push(f);
      process.stdout.write(`\n${formatTable(f)}\n`);
    }
    if (o.json) {
      const out = {
        benchmark: "extproc",
        date: new Date().toISOString(),
        node: process.version,
        cpus: os.cpus().length,
        options: {
          seconds: o.seconds,
          warmup: o.warmup,
          initialWarmup: o.initialWarmup,
          concurrency: o.concurrency,
        },
        cpuMeasurement: "process.cpuUsage() of each server child over IPC, user+system µs, all threads",
        workloads: figures,
      };
      writeFileSync(o.json, `${JSON.stringify(out, jsonNumbers, 2)}\n`);
      progress(`wrote ${o.json}`);
    }
    return 0;
  } finally {
    for (const c of clients) c.close();
    const codes = await Promise.all(children.map(async (c) => [c.name, await c.stop()] as const));
    for (const [name, code] of codes) if (code !== 0) progress(`${name} exited with code ${String(code)}`);
    fleet.close();
  }
}
