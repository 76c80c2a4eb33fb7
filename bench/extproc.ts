/**
 * `npm run bench -- extproc [options]` (`extproc-options.ts`): what kvroute costs per ext_proc conversation, next to
 * a no-op ext_proc server (the floor), on varied chat bodies (`extproc-pool.ts`) whose sizes are true token counts
 * under the tokenizer kvroute is given. `--goals` runs the issue-12 goal configurations and prints the goal table
 * (`extproc-goals.ts`).
 *
 * Servers, each its own child process so client and server CPU are separate (`children.ts`):
 * - `floor`: `noop-extproc-server.ts`;
 * - `kvroute`: the real `main()`, `--standalone`, one model served by `--pods` loopback pods (`loopback-fleet.ts`),
 *   the scenario's `--routing-algorithm` and `--tokenizer`, `--log-level info` with stdout piped to and drained by
 *   this process (the per-request log line is part of the cost);
 * - `kvroute-warn`: the same at `--log-level warn` (no per-request line), unless `--skip-warn` (or `--goals`).
 *
 * Each server process (and this client) is first warmed up for `--initial-warmup` s (the CPU per conversation of a
 * fresh process halves over its first ~3 s while the JIT settles). Then, per workload, each server is warmed up for
 * `--warmup` s and measured for `--seconds` s in 1 s slices taken round-robin (floor, kvroute, …, then the next round
 * in reverse order), so machine noise hits every server alike.
 *
 * Measured per slice and summed: conversations and per-phase round trips (client side, ms); server CPU from
 * `process.cpuUsage()` of the child, asked over IPC before and after the slice (µs, user + system, all threads);
 * this process's CPU the same way; the server's event-loop delay p50/p99 over the slice; server read/write
 * syscalls from `/proc/<pid>/io`; kvroute's stdout lines and bytes; and kvroute's own mean decision time from its
 * `/metrics` histogram (scraped outside the slices).
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import type { ProcessingRequest } from "../src/extproc/messages";
import { loadExtProcDefinition } from "../src/extproc/proto";
import { startKvroute, startNoopServer } from "./children";
import type { BenchChild } from "./children";
import { ExtProcLoadClient, accumulate, emptyResult } from "./extproc-client";
import type { LoadResult } from "./extproc-client";
import { measureFirstPrompt } from "./extproc-first-prompt";
import type { FirstPromptFigures } from "./extproc-first-prompt";
import { goalRows } from "./extproc-goals";
import type { ScenarioFigures } from "./extproc-goals";
import { EXTPROC_USAGE, parseOptions, scenarioLabel } from "./extproc-options";
import type { Options, Scenario } from "./extproc-options";
import { buildPoolWorkload } from "./extproc-pool";
import type { PoolWorkload } from "./extproc-pool";
import { formatTable, jsonNumbers, ratios, serverFigures } from "./extproc-report";
import type { ServerFigures, ServerTotals, SliceTotals, WorkloadFigures } from "./extproc-report";
import { promptTokenizer } from "./extproc-tokens";
import { SSE_CHUNKS } from "./extproc-workload";
import { formatGoalTable, goalExitCode } from "./goal-table";
import { startLoopbackFleetProcess } from "./loopback-fleet";

export { EXTPROC_USAGE } from "./extproc-options";

/** The model the workloads ask for (served by the scenario's loopback pods). */
export const MODEL = "m1";
/** The floor's fixed decision (see `noop-extproc-server.ts`). */
const FLOOR_TARGET = "127.0.0.1:8000"; // loopback-check: not-dialled (a header value)

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
  eldP50Ms: number[];
  eldP99Ms: number[];
  slices: SliceTotals[];
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
    eldP50Ms: [],
    eldP99Ms: [],
    slices: [],
  };
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

/** One measured slice on one server, added into `totals`. */
async function measureSlice(
  t: Target,
  w: PoolWorkload,
  s: Scenario,
  sliceSeconds: number,
  seq: { next: number },
  totals: Totals,
): Promise<void> {
  await t.child.vitals(); // resets the loop-delay histogram: the slice's own delay is read after it
  const lines0 = t.child.stdoutLines();
  const bytes0 = t.child.stdoutBytes();
  const sys0 = t.child.syscalls();
  const cpu0 = await t.child.cpuMicros();
  const client0 = process.cpuUsage();
  const load = await t.client.run(w, s.concurrency, sliceSeconds, seq);
  const client = process.cpuUsage(client0);
  const cpu1 = await t.child.cpuMicros();
  const sys1 = t.child.syscalls();
  const vitals = await t.child.vitals();
  // Let the last log lines of the slice reach the pipe before counting them.
  await new Promise((resolve) => setTimeout(resolve, 20));
  accumulate(totals.load, load);
  totals.serverCpuMicros += cpu1 - cpu0;
  totals.clientCpuMicros += client.user + client.system;
  totals.logLines += t.child.stdoutLines() - lines0;
  totals.logBytes += t.child.stdoutBytes() - bytes0;
  totals.syscallReads += sys0 && sys1 ? sys1.reads - sys0.reads : Number.NaN;
  totals.syscallWrites += sys0 && sys1 ? sys1.writes - sys0.writes : Number.NaN;
  totals.eldP50Ms.push(vitals.eldP50Ms);
  totals.eldP99Ms.push(vitals.eldP99Ms);
  totals.slices.push({
    conversations: load.conversations,
    seconds: load.seconds,
    serverCpuMicros: cpu1 - cpu0,
  });
}

/** Warm up, then measure every target on `w` in interleaved slices. */
async function runWorkload(
  targets: readonly Target[],
  w: PoolWorkload,
  s: Scenario,
  o: Options,
): Promise<WorkloadFigures> {
  const seq = { next: 1 };
  for (const t of targets) {
    if (o.warmup <= 0) break;
    progress(`  ${w.name}: warm-up ${t.child.name} (${o.warmup} s)`);
    await t.client.run(w, s.concurrency, o.warmup, seq);
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
      if (t && into) await measureSlice(t, w, s, slice, seq, into);
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
  if (floor) for (const x of others) rs[x.server] = ratios(x, floor);
  return {
    workload: w.name,
    configuration: scenarioLabel(s),
    promptTokens: w.promptTokens,
    tokenizer: w.tokenizer,
    tokenRange: [w.tokens.min, w.tokens.max],
    distinctBodies: w.bodies.length,
    headerCount: w.headerCount,
    requestBodyBytes: w.requestBodyBytes,
    responseBodyBytes: w.responseBodyBytes,
    sseChunks: SSE_CHUNKS,
    concurrency: s.concurrency,
    servers,
    ratios: rs,
  };
}

/** Start the servers: the floor first, then kvroute at info and (when asked) at warn. */
async function startServers(
  s: Scenario,
  o: Options,
  endpointsFile: string,
  started: BenchChild[],
): Promise<void> {
  const kv = (name: string, logLevel: "info" | "warn"): Promise<BenchChild> =>
    startKvroute({
      name,
      endpointsFile,
      logLevel,
      routingAlgorithm: s.routing,
      extraArgs: ["--tokenizer", s.tokenizer.spec],
      ...(o.cpuProf ? { extraExecArgv: ["--cpu-prof", "--cpu-prof-dir", path.resolve(o.cpuProf)] } : {}),
    });
  // With --cpu-prof the floor is profiled too, into <dir>/floor, to set kvroute's profile beside it.
  const floorProf = o.cpuProf
    ? ["--cpu-prof", "--cpu-prof-dir", path.join(path.resolve(o.cpuProf), "floor")]
    : [];
  const pending = [startNoopServer("floor", floorProf), kv("kvroute", "info")];
  if (s.withWarn) pending.push(kv("kvroute-warn", "warn"));
  const results = await Promise.allSettled(pending);
  for (const r of results) if (r.status === "fulfilled") started.push(r.value);
  const failed = results.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failed) throw failed.reason;
}

/** Build the scenario's workloads and time tokenizing their prompts alone (before any server starts). */
function prepareWorkloads(
  s: Scenario,
  o: Options,
  encode: (m: ProcessingRequest) => Buffer,
): { workloads: PoolWorkload[]; tokenizeAloneMicros: number[] } {
  const tokenizer = promptTokenizer(s.tokenizer);
  try {
    const workloads = s.workloads.map((spec) =>
      buildPoolWorkload({ spec, model: MODEL, bodyMode: s.bodyMode, tokenizer, encode }),
    );
    const tokenizeAloneMicros = workloads.map((w) =>
      tokenizer.cpuMicrosPerPrompt(w.bodies, Math.min(1, o.seconds / 2)),
    );
    return { workloads, tokenizeAloneMicros };
  } finally {
    tokenizer.free();
  }
}

/** Run one scenario on its own fleet and servers; prints a table per workload. */
async function runScenario(s: Scenario, o: Options): Promise<ScenarioFigures> {
  const { processService } = loadExtProcDefinition();
  const method = processService.Process;
  progress(`scenario ${s.name}: ${scenarioLabel(s)}`);
  const { workloads, tokenizeAloneMicros } = prepareWorkloads(s, o, method.requestSerialize);
  const fleet = await startLoopbackFleetProcess(MODEL, s.pods);
  const children: BenchChild[] = [];
  const clients: ExtProcLoadClient[] = [];
  try {
    progress(`starting servers (floor, kvroute${s.withWarn ? ", kvroute-warn" : ""})`);
    await startServers(s, o, fleet.endpointsFile, children);
    const targets: Target[] = children.map((child) => {
      const client = new ExtProcLoadClient({
        address: `127.0.0.1:${child.grpcPort}`,
        connections: s.connections,
        decode: method.responseDeserialize,
        validTargets: new Set(child.name === "floor" ? [FLOOR_TARGET] : fleet.endpoints),
      });
      clients.push(client);
      return { child, client };
    });
    const first = workloads[0];
    for (const t of targets) {
      if (!first || o.initialWarmup <= 0) break;
      progress(`initial warm-up ${t.child.name} (${o.initialWarmup} s, ${first.name})`);
      await t.client.run(first, s.concurrency, o.initialWarmup, { next: 1 });
    }
    const figures: WorkloadFigures[] = [];
    for (const w of workloads) {
      const f = await runWorkload(targets, w, s, o);
      figures.push(f);
      process.stdout.write(`\n${formatTable(f)}\n`);
    }
    for (const t of targets) if (!t.child.alive()) throw new Error(`${t.child.name} died during the run`);
    return { scenario: s, workloads: figures, tokenizeAloneMicros };
  } finally {
    for (const c of clients) c.close();
    const codes = await Promise.all(children.map(async (c) => [c.name, await c.stop()] as const));
    for (const [name, code] of codes) if (code !== 0) progress(`${name} exited with code ${String(code)}`);
    fleet.close();
  }
}

/** Run the benchmark; resolves with the exit code (1 when a goal row fails under `--goals`). */
export async function runExtProc(argv: readonly string[]): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\nusage: npm run bench -- ${EXTPROC_USAGE}\n`);
    return 2;
  }
  const scenarios: ScenarioFigures[] = [];
  for (const s of o.scenarios) scenarios.push(await runScenario(s, o));
  let firstPrompt: FirstPromptFigures | undefined;
  let exitCode = 0;
  if (o.goals) {
    firstPrompt = await measureFirstPrompt(o, progress);
    const rows = goalRows(scenarios, firstPrompt);
    process.stdout.write(
      `\n${formatGoalTable(
        `extproc (issue 12): kvroute at --log-level info vs the no-op floor, loopback pods, ${o.seconds} s ` +
          `per server in 1 s slices interleaved with the floor, ${os.cpus().length} CPUs`,
        rows,
      )}`,
    );
    exitCode = goalExitCode(rows);
  }
  if (o.json) {
    const out = {
      benchmark: "extproc",
      date: new Date().toISOString(),
      node: process.version,
      cpus: os.cpus().length,
      options: { seconds: o.seconds, warmup: o.warmup, initialWarmup: o.initialWarmup, goals: o.goals },
      cpuMeasurement: "process.cpuUsage() of each server child over IPC, user+system µs, all threads",
      scenarios: scenarios.map((x) => ({
        configuration: scenarioLabel(x.scenario),
        tokenizeAloneCpuMicrosPerPrompt: x.tokenizeAloneMicros,
        workloads: x.workloads,
      })),
      ...(firstPrompt ? { firstPrompt } : {}),
    };
    writeFileSync(o.json, `${JSON.stringify(out, jsonNumbers, 2)}\n`);
    progress(`wrote ${o.json}`);
  }
  return exitCode;
}
