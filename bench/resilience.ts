/**
 * `npm run bench -- resilience`: kvroute under hostile input and sustained load, as one reproducible run.
 *
 * 1. **fuzz**: seeded hostile conversations in named classes (`resilience-fuzz.ts`), `--concurrency` at a time;
 *    per class the outcomes (HTTP status of the immediate response, gRPC status, routed) and the findings
 *    (a spoofed or foreign `target-pod` honoured, a case left unanswered);
 * 2. **streams**: `--streams` conversations held open at once over `--connections` HTTP/2 connections: every
 *    request-headers message answered while all are open, then every body routed;
 * 3. **soak**: `--soak-seconds` of whole 1k-token chat conversations at `--soak-concurrency`.
 *
 * After each phase: kvroute's event-loop delay p99/max over the phase and its RSS after a full GC (the child runs
 * with `--expose-gc`), and whether it is still running. The exit code is 1 when any finding was seen or kvroute
 * died, so the run can gate a release.
 *
 * The pods are loopback HTTP servers in this process answering `/metrics` with an empty page (kvroute scrapes
 * them); no request is forwarded to them.
 *
 * @module
 */
import { writeFileSync } from "node:fs";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { loadExtProcDefinition } from "../src/extproc/proto";
import { startKvroute } from "./children";
import { startLoopbackFleet } from "./loopback-fleet";
import type { BenchChild } from "./children";
import type { Vitals } from "./child-ipc";
import { ExtProcLoadClient } from "./extproc-client";
import { buildWorkload } from "./extproc-workload";
import { holdStreams, runCase } from "./resilience-drive";
import type { DecisionCheck } from "./resilience-drive";
import { FUZZ_CLASSES, fuzzCases } from "./resilience-fuzz";
import type { FuzzClass } from "./resilience-fuzz";

/** Usage text of this benchmark. */
export const RESILIENCE_USAGE =
  "resilience [--rounds N=2000] [--concurrency N=32] [--streams N=5000] [--connections N=4]\n" +
  "          [--soak-seconds N=60] [--soak-concurrency N=32] [--seed N=1] [--classes a,b] [--json FILE]";

const MODEL = "fuzz-model";
const PODS = 8;
/** kvroute's default `--max-body-bytes`, which the fuzz cases size themselves against. */
const MAX_BODY_BYTES = 4 * 1024 * 1024;

interface Options {
  readonly rounds: number;
  readonly concurrency: number;
  readonly streams: number;
  readonly connections: number;
  readonly soakSeconds: number;
  readonly soakConcurrency: number;
  readonly seed: number;
  readonly classes: ReadonlySet<FuzzClass>;
  readonly json: string | undefined;
}

function fuzzClasses(list: string | undefined): ReadonlySet<FuzzClass> {
  if (list === undefined) return new Set(FUZZ_CLASSES);
  return new Set(
    list.split(",").map((name) => {
      const cls = FUZZ_CLASSES.find((c) => c === name.trim());
      if (!cls) throw new Error(`--classes: unknown class ${name}; known: ${FUZZ_CLASSES.join(",")}`);
      return cls;
    }),
  );
}

function count(name: string, value: string | undefined, fallback: number, zeroOk = false): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < (zeroOk ? 0 : 1))
    throw new Error(`--${name} must be an integer ≥ ${zeroOk ? 0 : 1}`);
  return n;
}

function parseOptions(argv: readonly string[]): Options {
  const opt = { type: "string" } as const;
  const { values: v } = parseArgs({
    args: [...argv],
    options: {
      rounds: opt,
      concurrency: opt,
      streams: opt,
      connections: opt,
      "soak-seconds": opt,
      "soak-concurrency": opt,
      seed: opt,
      classes: opt,
      json: opt,
    },
    strict: true,
    allowPositionals: false,
  });
  return {
    rounds: count("rounds", v.rounds, 2000, true),
    concurrency: count("concurrency", v.concurrency, 32),
    streams: count("streams", v.streams, 5000, true),
    connections: count("connections", v.connections, 4),
    soakSeconds: count("soak-seconds", v["soak-seconds"], 60, true),
    soakConcurrency: count("soak-concurrency", v["soak-concurrency"], 32),
    seed: count("seed", v.seed, 1, true),
    classes: fuzzClasses(v.classes),
    json: v.json,
  };
}

function progress(text: string): void {
  process.stderr.write(`${text}\n`);
}

const mb = (b: number | null): string => (b === null ? "n/a" : `${(b / 2 ** 20).toFixed(0)} MB`);
const vitalsLine = (v: Vitals): string =>
  `loop delay p99 ${v.eldP99Ms.toFixed(1)} ms (max ${v.eldMaxMs.toFixed(0)} ms), ` +
  `RSS ${mb(v.rssBytes)}, after GC ${mb(v.rssAfterGcBytes)}`;

/** Phase 1: the fuzz; returns outcome counts per class and the number of messages sent. */
async function fuzzPhase(
  o: Options,
  client: grpc.Client,
  check: DecisionCheck,
  encode: Parameters<typeof fuzzCases>[0],
): Promise<{ table: Map<string, Map<string, number>>; messages: number }> {
  const table = new Map<string, Map<string, number>>([...o.classes].map((c) => [c, new Map()]));
  const target = { model: MODEL, maxBodyBytes: MAX_BODY_BYTES };
  const cases = fuzzCases(encode, target, o.rounds, o.seed, o.classes);
  let done = 0;
  let messages = 0;
  const worker = async (): Promise<void> => {
    for (let next = cases.next(); !next.done; next = cases.next()) {
      messages += next.value.messages.length;
      const outcome = await runCase(client, next.value, check);
      const row = table.get(next.value.cls);
      row?.set(outcome, (row.get(outcome) ?? 0) + 1);
      if (++done % 2000 === 0) progress(`  fuzz: ${done} cases`);
    }
  };
  await Promise.all(Array.from({ length: o.concurrency }, worker));
  return { table, messages };
}

const FINDINGS = /^(SPOOFED-TARGET|BAD-TARGET|UNANSWERED|MALFORMED-REPLY)$/;

function fuzzReport(table: Map<string, Map<string, number>>): {
  text: string;
  findings: number;
  cases: number;
} {
  let findings = 0;
  let cases = 0;
  const lines = ["| class | cases | outcomes |", "|---|---:|---|"];
  for (const [cls, row] of table) {
    const n = [...row.values()].reduce((a, b) => a + b, 0);
    cases += n;
    const parts = [...row].sort((a, b) => b[1] - a[1]).map(([k, v]) => `${k} ${v}`);
    for (const [k, v] of row) if (FINDINGS.test(k)) findings += v;
    lines.push(`| ${cls} | ${n} | ${parts.join(", ")} |`);
  }
  return { text: lines.join("\n"), findings, cases };
}

/** Run the benchmark; resolves with the exit code. */
export async function runResilience(argv: readonly string[]): Promise<number> {
  let o: Options;
  try {
    o = parseOptions(argv);
  } catch (e) {
    process.stderr.write(`${(e as Error).message}\nusage: npm run bench -- ${RESILIENCE_USAGE}\n`);
    return 2;
  }
  const pods = await startLoopbackFleet(MODEL, PODS);
  const { endpointsFile } = pods;
  let child: BenchChild | undefined;
  const clients: grpc.Client[] = [];
  const report: Record<string, unknown> = { benchmark: "resilience", node: process.version, options: o };
  let failed = false;
  try {
    child = await startKvroute({
      name: "kvroute",
      endpointsFile,
      logLevel: "warn",
      routingAlgorithm: "prefix-cache",
      extraExecArgv: ["--expose-gc"],
    });
    const { processService } = loadExtProcDefinition();
    const method = processService.Process;
    const check: DecisionCheck = {
      decode: method.responseDeserialize,
      validTargets: new Set(pods.endpoints),
    };
    // Separate subchannel pools: each client is its own HTTP/2 connection.
    for (let i = 0; i < o.connections; i++) {
      clients.push(
        new grpc.Client(`127.0.0.1:${child.grpcPort}`, grpc.credentials.createInsecure(), {
          "grpc.use_local_subchannel_pool": 1,
          "grpc.max_send_message_length": 64 * 1024 * 1024,
        }),
      );
    }
    const start = await child.vitals();
    progress(`kvroute started: ${vitalsLine(start)}`);
    report.start = start;

    progress(`fuzz: ${o.rounds} rounds, ${o.concurrency} at a time`);
    const t0 = performance.now();
    const { table, messages } = await fuzzPhase(o, clients[0] as grpc.Client, check, method.requestSerialize);
    const fuzz = fuzzReport(table);
    const afterFuzz = await child.vitals();
    process.stdout.write(
      `\n## fuzz: ${fuzz.cases} cases (${messages} messages) in ${((performance.now() - t0) / 1000).toFixed(0)} s, ` +
        `${fuzz.findings} findings; ${vitalsLine(afterFuzz)}\n\n${fuzz.text}\n`,
    );
    report.fuzz = {
      cases: fuzz.cases,
      messages,
      findings: fuzz.findings,
      classes: mapObject(table),
      vitals: afterFuzz,
    };
    failed ||= fuzz.findings > 0 || !child.alive();

    const workload = buildWorkload("chat-1k", MODEL, 1000, method.requestSerialize);
    if (o.streams > 0) {
      progress(`streams: ${o.streams} open at once over ${o.connections} connections`);
      const held = await holdStreams(
        clients,
        o.streams,
        (i) => workload.requestHeaders(i),
        workload.requestBody,
        check,
      );
      const v = await child.vitals();
      process.stdout.write(
        `\n## ${held.opened} concurrent streams: ${held.headersAnswered} headers answered, ${held.decided} routed ` +
          `in ${held.seconds.toFixed(1)} s${held.errors.size ? `, errors ${JSON.stringify(mapObject(held.errors))}` : ""}; ` +
          `${vitalsLine(v)}\n`,
      );
      report.streams = { ...held, errors: mapObject(held.errors), vitals: v };
      failed ||= held.decided < held.opened || !child.alive();
    }

    if (o.soakSeconds > 0) {
      progress(`soak: ${o.soakSeconds} s at concurrency ${o.soakConcurrency}`);
      const load = new ExtProcLoadClient({
        address: `127.0.0.1:${child.grpcPort}`,
        decode: method.responseDeserialize,
        validTargets: check.validTargets,
      });
      const before = await child.vitals();
      const r = await load.run(workload, o.soakConcurrency, o.soakSeconds, { next: 1 });
      load.close();
      const v = await child.vitals();
      const errs = [...r.errors.values()].reduce((a, b) => a + b, 0);
      process.stdout.write(
        `\n## soak: ${r.conversations} conversations in ${r.seconds.toFixed(0)} s ` +
          `(${(r.conversations / r.seconds).toFixed(0)}/s), ${errs} errors; RSS after GC ` +
          `${mb(before.rssAfterGcBytes)} → ${mb(v.rssAfterGcBytes)}; ${vitalsLine(v)}\n`,
      );
      report.soak = {
        conversations: r.conversations,
        seconds: r.seconds,
        errors: mapObject(r.errors),
        before,
        after: v,
      };
      failed ||= errs > 0 || !child.alive();
    }
    const alive = child.alive();
    process.stdout.write(
      `\nkvroute ${alive ? "still running" : "DIED"}; ${failed ? "FINDINGS — see above" : "no findings"}\n`,
    );
    if (o.json) writeFileSync(o.json, `${JSON.stringify(report, null, 2)}\n`);
    return failed ? 1 : 0;
  } finally {
    for (const c of clients) c.close();
    if (child) {
      const code = await child.stop();
      if (code !== 0) progress(`kvroute exited with code ${String(code)}`);
    }
    pods.close();
  }
}

function mapObject<V>(m: ReadonlyMap<string, V>): Record<string, unknown> {
  return Object.fromEntries([...m].map(([k, v]) => [k, v instanceof Map ? mapObject(v) : v]));
}
