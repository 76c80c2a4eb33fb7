/**
 * `npm run bench -- envoy-reset [--rate N=2000] [--connections N=4] [--duration S=600] [--servers kvroute,noop]`:
 * ext_proc conversations ended Envoy's way (END_STREAM then RST_STREAM(NO_ERROR), see `envoy-like-client.ts`) at a
 * fixed open-loop rate over a fixed number of HTTP/2 connections, for a fixed time, against each server in turn:
 *
 * - `kvroute`: the real `main()` (standalone, one model with 3 endpoints, `least-request`, `--log-level warn`);
 * - `noop`: the no-op grpc-js ext_proc server (`noop-extproc-server.ts`) with grpc-js's HTTP/2 defaults, i.e.
 *   Node's reset limit of 1000 burst + 33/s per connection: the baseline that shows what Envoy's endings do to a
 *   stock server.
 *
 * Conversations start on a 5 ms tick, as many as the rate asks for; at most `MAX_IN_FLIGHT` are open at once, and
 * starts beyond that are counted as `client saturated` instead of queued (so a stalled server shows as errors, not
 * as unbounded client memory). Reported per server: conversations answered, achieved rate, GOAWAYs received (each
 * replaces its connection), failures by reason, and p50/p99/max round trip of the answered conversations.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { loadExtProcDefinition } from "../src/extproc/proto";
import { startKvroute, startNoopServer } from "./children";
import { startLoopbackFleet } from "./loopback-fleet";
import type { BenchChild } from "./children";
import { EnvoyLikeClient } from "./envoy-like-client";
import { buildWorkload } from "./extproc-workload";
import type { Workload } from "./extproc-workload";

const MODEL = "m1";
/** Prompt size of every conversation, tokens: small, so the run measures stream endings rather than parsing. */
const PROMPT_TOKENS = 128;
const TICK_MS = 5;
const MAX_IN_FLIGHT = 4000;
const PROGRESS_EVERY_MS = 10_000;
const SERVERS = ["kvroute", "noop"] as const;
type ServerName = (typeof SERVERS)[number];

/** Usage text of this benchmark. */
export const ENVOY_RESET_USAGE =
  "envoy-reset [--rate N=2000] [--connections N=4] [--duration SECONDS=600] [--servers kvroute,noop]";

interface Options {
  readonly rate: number;
  readonly connections: number;
  readonly durationS: number;
  readonly servers: readonly ServerName[];
}

/** What one server's run measured. */
interface RunFigures {
  readonly server: ServerName;
  readonly seconds: number;
  readonly answered: number;
  readonly goaways: number;
  readonly connections: number;
  readonly failures: ReadonlyMap<string, number>;
  readonly p50: number;
  readonly p99: number;
  readonly max: number;
}

function positive(name: string, value: string | undefined, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new Error(`--${name} must be a positive integer, got ${value}`);
  return n;
}

function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      rate: { type: "string" },
      connections: { type: "string" },
      duration: { type: "string" },
      servers: { type: "string" },
    },
    strict: true,
    allowPositionals: false,
  });
  const servers = (values.servers ?? SERVERS.join(",")).split(",").map((s) => {
    const name = SERVERS.find((known) => known === s.trim());
    if (!name) throw new Error(`--servers: unknown server ${s}; known: ${SERVERS.join(",")}`);
    return name;
  });
  return {
    rate: positive("rate", values.rate, 2000),
    connections: positive("connections", values.connections, 4),
    durationS: positive("duration", values.duration, 600),
    servers,
  };
}

/** The `q` quantile (nearest rank) of ascending `sorted`; NaN when empty. */
function quantile(sorted: Float64Array, q: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil(q * sorted.length) - 1)] ?? Number.NaN;
}

/** Drive `child` at the configured rate for the configured time; resolves once every started conversation ended. */
async function drive(
  server: ServerName,
  child: BenchChild,
  workload: Workload,
  o: Options,
): Promise<RunFigures> {
  const client = new EnvoyLikeClient(`http://127.0.0.1:${child.grpcPort}`, o.connections);
  const failures = new Map<string, number>();
  const fail = (reason: string): void => void failures.set(reason, (failures.get(reason) ?? 0) + 1);
  const latencies: number[] = [];
  let launched = 0;
  let inFlight = 0;
  let lastProgress = 0;
  const started = performance.now();
  const durationMs = o.durationS * 1000;
  await new Promise<void>((resolve) => {
    const tick = setInterval(() => {
      const elapsed = performance.now() - started;
      const due = Math.floor((Math.min(elapsed, durationMs) * o.rate) / 1000);
      while (launched < due) {
        launched++;
        if (inFlight >= MAX_IN_FLIGHT) {
          fail("client saturated");
          continue;
        }
        inFlight++;
        void client.conversation(workload, launched).then((outcome) => {
          inFlight--;
          if (outcome.ok) latencies.push(outcome.ms);
          else fail(outcome.reason);
        });
      }
      if (elapsed - lastProgress >= PROGRESS_EVERY_MS) {
        lastProgress = elapsed;
        const errors = [...failures.values()].reduce((a, b) => a + b, 0);
        process.stderr.write(
          `  ${server} ${(elapsed / 1000).toFixed(0)} s: ${latencies.length} answered, ` +
            `${client.counts.goaways} GOAWAY, ${errors} failed, ${inFlight} in flight\n`,
        );
      }
      if (elapsed >= durationMs && inFlight === 0) {
        clearInterval(tick);
        resolve();
      }
    }, TICK_MS);
  });
  const seconds = (performance.now() - started) / 1000;
  client.close();
  const sorted = Float64Array.from(latencies).sort();
  return {
    server,
    seconds,
    answered: latencies.length,
    goaways: client.counts.goaways,
    connections: client.counts.connections,
    failures,
    p50: quantile(sorted, 0.5),
    p99: quantile(sorted, 0.99),
    max: sorted.length ? (sorted[sorted.length - 1] ?? Number.NaN) : Number.NaN,
  };
}

function formatFigures(rows: readonly RunFigures[], o: Options): string {
  const head =
    `envoy-reset: ${o.rate}/s over ${o.connections} connections for ${o.durationS} s, ` +
    `each conversation ended with END_STREAM + RST_STREAM(NO_ERROR)\n`;
  const cols = [
    "server",
    "answered",
    "per s",
    "GOAWAY",
    "connections",
    "failed",
    "p50 ms",
    "p99 ms",
    "max ms",
  ];
  const lines = rows.map((r) => {
    const failed = [...r.failures.values()].reduce((a, b) => a + b, 0);
    return [
      r.server,
      String(r.answered),
      (r.answered / r.seconds).toFixed(0),
      String(r.goaways),
      String(r.connections),
      String(failed),
      r.p50.toFixed(2),
      r.p99.toFixed(2),
      r.max.toFixed(1),
    ];
  });
  const widths = cols.map((c, i) => Math.max(c.length, ...lines.map((l) => (l[i] ?? "").length)));
  const fmt = (cells: readonly string[]): string =>
    cells.map((c, i) => c.padStart(widths[i] ?? 0)).join("  ");
  const reasons = rows
    .filter((r) => r.failures.size > 0)
    .map((r) => `  ${r.server} failures: ${[...r.failures].map(([k, n]) => `${k} ×${n}`).join(", ")}`);
  return [head, fmt(cols), ...lines.map(fmt), ...reasons, ""].join("\n");
}

/** Run the benchmark; resolves with the exit code (1 when kvroute saw a GOAWAY or a failed conversation). */
export async function runEnvoyReset(argv: readonly string[]): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\nusage: npm run bench -- ${ENVOY_RESET_USAGE}\n`);
    return 2;
  }
  const fleet = await startLoopbackFleet(MODEL, 3);
  const encode = loadExtProcDefinition().processService.Process.requestSerialize;
  const workload = buildWorkload("envoy-reset", MODEL, PROMPT_TOKENS, encode);
  const rows: RunFigures[] = [];
  try {
    for (const server of o.servers) {
      process.stderr.write(`${server}: starting\n`);
      const child =
        server === "noop"
          ? await startNoopServer("noop")
          : await startKvroute({
              name: "kvroute",
              endpointsFile: fleet.endpointsFile,
              logLevel: "warn",
              routingAlgorithm: "least-request",
            });
      try {
        rows.push(await drive(server, child, workload, o));
      } finally {
        await child.stop();
      }
    }
  } finally {
    fleet.close();
  }
  process.stdout.write(formatFigures(rows, o));
  const kv = rows.find((r) => r.server === "kvroute");
  return kv && (kv.goaways > 0 || kv.failures.size > 0) ? 1 : 0;
}
