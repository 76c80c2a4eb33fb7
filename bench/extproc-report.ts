/**
 * Figures of the ext_proc benchmark: per server and workload (throughput, errors, CPU per conversation, p50/p99
 * per phase), the ratios of each kvroute run to the floor, a readable table and the JSON shape `--json` writes.
 *
 * @module
 */
import { PHASES } from "./extproc-client";
import type { LoadResult, Phase } from "./extproc-client";

/** p50 and p99 of one phase, in ms. */
export interface Percentiles {
  readonly p50: number;
  readonly p99: number;
}

/** What was measured for one server on one workload. */
export interface ServerFigures {
  readonly server: string;
  readonly conversations: number;
  readonly errorCount: number;
  readonly errors: Record<string, number>;
  readonly seconds: number;
  readonly conversationsPerSecond: number;
  /** Server process CPU (user + system, µs) over the measured windows, per successful conversation. */
  readonly serverCpuMicrosPerConversation: number;
  /** This (client) process's CPU over the same windows, per conversation. */
  readonly clientCpuMicrosPerConversation: number;
  /** The client's CPU over the server's measured windows ÷ their wall time (1 = one core busy: client-bound). */
  readonly clientCoreShare: number;
  /** Server event-loop delay (`monitorEventLoopDelay`, 1 ms resolution: an idle loop reads ~1.1 ms) per 1 s slice:
   * p50 is the median slice's, p99 the worst slice's, `eldP99BestMs` the best slice's p99. */
  readonly eldP50Ms: number;
  readonly eldP99Ms: number;
  readonly eldP99BestMs: number;
  /** Per slice, in measuring order: server CPU µs per conversation and conversations per second. */
  readonly sliceCpuMicrosPerConversation: readonly number[];
  readonly sliceConversationsPerSecond: readonly number[];
  /** Server stdout lines and bytes per conversation (kvroute's JSON log; 0 for the floor). */
  readonly logLinesPerConversation: number;
  readonly logBytesPerConversation: number;
  /** Server read / write syscalls per conversation (`/proc/<pid>/io`; NaN when unreadable). */
  readonly syscallReadsPerConversation: number;
  readonly syscallWritesPerConversation: number;
  /** Mean parse + pick time from kvroute's own `kvroute_decision_duration_seconds` histogram; NaN for the floor. */
  readonly decisionMicrosMean: number;
  readonly latencyMs: Record<Phase, Percentiles>;
}

/** A kvroute run relative to the floor: kvroute / floor for every figure. */
export interface Ratios {
  readonly throughput: number;
  readonly serverCpuPerConversation: number;
  readonly latency: Record<Phase, Percentiles>;
}

/** Everything about one workload. */
export interface WorkloadFigures {
  readonly workload: string;
  /** The configuration measured (routing, pods, tokenizer, body mode, streams), `scenarioLabel`. */
  readonly configuration: string;
  /** Mean prompt tokens under `tokenizer`, counted by encoding every body (min–max in `tokenRange`). */
  readonly promptTokens: number;
  readonly tokenizer: string;
  readonly tokenRange: readonly [number, number];
  /** Distinct bodies cycled through. */
  readonly distinctBodies: number;
  readonly headerCount: number;
  readonly requestBodyBytes: number;
  readonly responseBodyBytes: number;
  readonly sseChunks: number;
  readonly concurrency: number;
  /** The floor first, then the kvroute runs. */
  readonly servers: ServerFigures[];
  /** Keyed by kvroute server name. */
  readonly ratios: Record<string, Ratios>;
}

/** Raw counters of one server over the measured windows. */
export interface ServerTotals {
  readonly server: string;
  readonly load: LoadResult;
  readonly serverCpuMicros: number;
  readonly clientCpuMicros: number;
  readonly logLines: number;
  readonly logBytes: number;
  readonly syscallReads: number;
  readonly syscallWrites: number;
  /** Mean in-process decision time over the measured slices, µs (NaN when not available). */
  readonly decisionMicros: number;
  /** Server event-loop delay p50 and p99 of each measured slice, ms. */
  readonly eldP50Ms: readonly number[];
  readonly eldP99Ms: readonly number[];
  /** Per measured slice: conversations, wall seconds and server CPU µs (for run-to-run spreads). */
  readonly slices: readonly SliceTotals[];
}

/** One measured slice of one server. */
export interface SliceTotals {
  readonly conversations: number;
  readonly seconds: number;
  readonly serverCpuMicros: number;
}

/** The `q` quantile (nearest rank) of ascending `sorted`; NaN when empty. */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

/** Turn raw counters into figures. */
export function serverFigures(t: ServerTotals): ServerFigures {
  const n = t.load.conversations;
  const per = (x: number): number => (n > 0 ? x / n : Number.NaN);
  const latencyMs = {} as Record<Phase, Percentiles>;
  for (const p of PHASES) {
    const sorted = Float64Array.from(t.load.latencies[p]).sort();
    latencyMs[p] = { p50: quantile(sorted, 0.5), p99: quantile(sorted, 0.99) };
  }
  const errors = Object.fromEntries(t.load.errors);
  const p50s = Float64Array.from(t.eldP50Ms).sort();
  const p99s = Float64Array.from(t.eldP99Ms).sort();
  return {
    server: t.server,
    conversations: n,
    errorCount: Object.values(errors).reduce((a, b) => a + b, 0),
    errors,
    seconds: t.load.seconds,
    conversationsPerSecond: t.load.seconds > 0 ? n / t.load.seconds : Number.NaN,
    serverCpuMicrosPerConversation: per(t.serverCpuMicros),
    clientCpuMicrosPerConversation: per(t.clientCpuMicros),
    clientCoreShare: t.load.seconds > 0 ? t.clientCpuMicros / (t.load.seconds * 1e6) : Number.NaN,
    eldP50Ms: quantile(p50s, 0.5),
    eldP99Ms: p99s.length > 0 ? (p99s[p99s.length - 1] ?? Number.NaN) : Number.NaN,
    eldP99BestMs: p99s[0] ?? Number.NaN,
    sliceCpuMicrosPerConversation: t.slices.map((x) =>
      x.conversations > 0 ? x.serverCpuMicros / x.conversations : Number.NaN,
    ),
    sliceConversationsPerSecond: t.slices.map((x) =>
      x.seconds > 0 ? x.conversations / x.seconds : Number.NaN,
    ),
    logLinesPerConversation: per(t.logLines),
    logBytesPerConversation: per(t.logBytes),
    syscallReadsPerConversation: per(t.syscallReads),
    syscallWritesPerConversation: per(t.syscallWrites),
    decisionMicrosMean: t.decisionMicros,
    latencyMs,
  };
}

/** `x` relative to the floor `base`. */
export function ratios(x: ServerFigures, base: ServerFigures): Ratios {
  const latency = {} as Record<Phase, Percentiles>;
  for (const p of PHASES) {
    latency[p] = {
      p50: x.latencyMs[p].p50 / base.latencyMs[p].p50,
      p99: x.latencyMs[p].p99 / base.latencyMs[p].p99,
    };
  }
  return {
    throughput: x.conversationsPerSecond / base.conversationsPerSecond,
    serverCpuPerConversation: x.serverCpuMicrosPerConversation / base.serverCpuMicrosPerConversation,
    latency,
  };
}

const PHASE_LABELS: Record<Phase, string> = {
  requestHeaders: "request headers",
  requestBody: "request body (decision)",
  responseHeaders: "response headers",
  responseBody: "response body (all chunks)",
  conversation: "whole conversation",
};

/** A number with precision suited to its size; "-" for NaN. */
function num(x: number): string {
  if (!Number.isFinite(x)) return "-";
  const a = Math.abs(x);
  if (a >= 1000) return Math.round(x).toLocaleString("en-US");
  if (a >= 100) return x.toFixed(0);
  if (a >= 10) return x.toFixed(1);
  return x.toFixed(2);
}

const ms = (p: Percentiles): string => `${num(p.p50)} / ${num(p.p99)}`;
const ratio = (x: number): string => (Number.isFinite(x) ? `${x.toFixed(2)}×` : "-");
const kib = (bytes: number): string => `${(bytes / 1024).toFixed(1)} KiB`;

/** The table for one workload: the floor, then each kvroute run followed by its ratio to the floor. */
export function formatTable(w: WorkloadFigures): string {
  const [floor, ...others] = w.servers;
  if (!floor) return "";
  const header = ["", floor.server];
  for (const s of others) header.push(s.server, "÷ floor");
  const rows: string[][] = [header];
  const row = (label: string, f: (s: ServerFigures) => string, r?: (x: Ratios) => string): void => {
    const cells = [label, f(floor)];
    for (const s of others) {
      const rs = w.ratios[s.server];
      cells.push(f(s), r && rs ? r(rs) : "");
    }
    rows.push(cells);
  };
  row(
    "conversations/s",
    (s) => num(s.conversationsPerSecond),
    (r) => ratio(r.throughput),
  );
  row("conversations (errors)", (s) => `${s.conversations} (${s.errorCount})`);
  row(
    "server CPU µs/conv",
    (s) => num(s.serverCpuMicrosPerConversation),
    (r) => ratio(r.serverCpuPerConversation),
  );
  row("client CPU µs/conv", (s) => num(s.clientCpuMicrosPerConversation));
  row("client CPU, share of one core", (s) => `${(s.clientCoreShare * 100).toFixed(0)} %`);
  row("server loop delay ms p50 / p99", (s) => `${num(s.eldP50Ms)} / ${num(s.eldP99Ms)}`);
  row(
    "log lines (bytes)/conv",
    (s) => `${num(s.logLinesPerConversation)} (${num(s.logBytesPerConversation)})`,
  );
  row(
    "server syscalls/conv read / write",
    (s) => `${num(s.syscallReadsPerConversation)} / ${num(s.syscallWritesPerConversation)}`,
  );
  row("decision µs (kvroute's metric)", (s) => num(s.decisionMicrosMean));
  rows.push(["RTT ms  p50 / p99", "", ...others.flatMap(() => ["", "p50 / p99"])]);
  for (const p of PHASES) {
    row(
      `  ${PHASE_LABELS[p]}`,
      (s) => ms(s.latencyMs[p]),
      (r) => `${ratio(r.latency[p].p50)} / ${ratio(r.latency[p].p99)}`,
    );
  }
  const widths = header.map((_, i) => Math.max(...rows.map((r) => (r[i] ?? "").length)));
  const lines = rows.map((r) =>
    r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join("   "),
  );
  const title =
    `== ${w.workload} (${w.configuration}): ${w.headerCount} request headers, body ${kib(w.requestBodyBytes)} ` +
    `(${w.promptTokens} ${w.tokenizer} tokens, ${w.tokenRange[0]}–${w.tokenRange[1]}, ${w.distinctBodies} ` +
    `distinct bodies), response ${w.sseChunks} SSE chunks (${kib(w.responseBodyBytes)}), ` +
    `${num(floor.seconds)} s measured per server ==\n` +
    `   (loop delay: monitorEventLoopDelay at 1 ms resolution, an idle loop reads ~1.1; p50 of the median 1 s ` +
    `slice, p99 of the worst)`;
  const errors = w.servers
    .filter((s) => s.errorCount > 0)
    .map((s) => `  ${s.server} errors: ${JSON.stringify(s.errors)}`);
  return [title, ...lines, ...errors].join("\n");
}

/** JSON replacer: NaN and infinities become null. */
export function jsonNumbers(_key: string, value: unknown): unknown {
  return typeof value === "number" && !Number.isFinite(value) ? null : value;
}
