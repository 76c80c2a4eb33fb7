/**
 * Metric bodies for the scrape benchmark, rendered from `scrape-template.txt`: the exact format and series of
 * the vLLM v1 fixture (`test/cluster/metrics/fixtures/vllm-metrics.txt`, ~4.5 KB), with values that change on
 * every request. `{{running}}`, `{{waiting}}` and `{{kv}}` are random gauges; `{{n}}`, `{{n*K}}` and
 * `{{n/K}}` grow with the endpoint's request count `n`; `{{now}}` is the Unix time, as vLLM writes it in
 * `lora_requests_info`.
 *
 * The `full` body appends what a real vLLM v1 `/metrics` also carries (the per-request histograms with their
 * real bucket lists from `vllm/v1/metrics/loggers.py`, preemption and sleep-state series, Python process
 * metrics), about 40 KB and 330 samples in all, to show how the cost grows with the body.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { REPO_ROOT } from "./compiled";

/** Which body the endpoints serve. */
export type BodyKind = "fixture" | "full";

/** Renders one body for request number `n` (1-based) of an endpoint. */
export type RenderBody = (n: number) => string;

const MODEL = 'engine="0",model_name="meta-llama/Llama-3.1-8B-Instruct"';

const E2E_BUCKETS = [
  0.3, 0.5, 0.8, 1, 1.5, 2, 2.5, 5, 10, 15, 20, 30, 40, 50, 60, 120, 240, 480, 960, 1920, 7680,
];
const ITL_BUCKETS = [
  0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80,
];
const TTFT_BUCKETS = [
  0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10, 20, 40, 80, 160, 640,
  2560,
];
const TOKEN_BUCKETS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000];
const ITERATION_BUCKETS = [1, 8, 16, 32, 64, 128, 256, 512, 1024, 2048, 4096, 8192, 16384];

/** Histograms a real v1 engine exposes beyond the fixture's three, with their bucket bounds. */
const EXTRA_HISTOGRAMS: readonly (readonly [string, readonly number[]])[] = [
  ["vllm:request_queue_time_seconds", E2E_BUCKETS],
  ["vllm:request_inference_time_seconds", E2E_BUCKETS],
  ["vllm:request_prefill_time_seconds", E2E_BUCKETS],
  ["vllm:request_decode_time_seconds", E2E_BUCKETS],
  ["vllm:request_time_per_output_token_seconds", ITL_BUCKETS],
  ["vllm:time_per_output_token_seconds", ITL_BUCKETS],
  ["vllm:time_per_prefill_token_request_seconds", TTFT_BUCKETS],
  ["vllm:request_prompt_tokens", TOKEN_BUCKETS],
  ["vllm:request_generation_tokens", TOKEN_BUCKETS],
  ["vllm:request_max_num_generation_tokens", TOKEN_BUCKETS],
  ["vllm:request_params_max_tokens", TOKEN_BUCKETS],
  ["vllm:request_prefill_kv_computed_tokens", TOKEN_BUCKETS],
  ["vllm:request_params_n", [1, 2, 5, 10, 20]],
  ["vllm:iteration_tokens_total", ITERATION_BUCKETS],
];

/** The template text of `kind`. */
function template(kind: BodyKind): string {
  const base = readFileSync(path.join(REPO_ROOT, "bench", "scrape-template.txt"), "utf8");
  if (kind === "fixture") return base;
  const lines: string[] = [];
  for (const [name, buckets] of EXTRA_HISTOGRAMS) {
    lines.push(`# HELP ${name} Histogram of ${name.slice(5)}.`, `# TYPE ${name} histogram`);
    buckets.forEach((le, i) => {
      const share = ((i + 1) / (buckets.length + 1)).toFixed(3);
      lines.push(`${name}_bucket{${MODEL},le="${le.toFixed(1)}"} {{n*${share}}}`);
    });
    lines.push(`${name}_bucket{${MODEL},le="+Inf"} {{n}}`, `${name}_count{${MODEL}} {{n}}`);
    lines.push(`${name}_sum{${MODEL}} {{n*1.37}}`);
  }
  lines.push("# HELP vllm:num_preemptions_total Cumulative number of preemption from the engine.");
  lines.push("# TYPE vllm:num_preemptions_total counter", `vllm:num_preemptions_total{${MODEL}} {{n/50}}`);
  lines.push("# HELP vllm:engine_sleep_state Engine sleep state", "# TYPE vllm:engine_sleep_state gauge");
  for (const s of ["awake", "weights_offloaded", "discard_all"]) {
    lines.push(`vllm:engine_sleep_state{${MODEL},sleep_state="${s}"} ${s === "awake" ? "1.0" : "0.0"}`);
  }
  for (const gen of [0, 1, 2]) {
    lines.push(`python_gc_objects_collected_total{generation="${gen}"} {{n*3}}`);
    lines.push(`python_gc_collections_total{generation="${gen}"} {{n/3}}`);
  }
  lines.push(
    'python_info{implementation="CPython",major="3",minor="12",patchlevel="3",version="3.12.3"} 1.0',
  );
  for (const p of [
    "virtual_memory_bytes",
    "resident_memory_bytes",
    "start_time_seconds",
    "cpu_seconds_total",
  ]) {
    lines.push(`# TYPE process_${p} gauge`, `process_${p} {{n*1234.5}}`);
  }
  return `${base}${lines.join("\n")}\n`;
}

/** Python's float formatting for the values we emit: integers keep a trailing `.0`. */
function formatValue(x: number): string {
  const r = Math.round(x * 1e4) / 1e4;
  return Number.isInteger(r) ? `${r}.0` : String(r);
}

/**
 * A renderer for `kind`. Each endpoint should get its own (`random` is the endpoint's generator in [0, 1)).
 * The template is split once; rendering joins strings and formats a few dozen numbers.
 */
export function createBodyRenderer(kind: BodyKind, random: () => number = Math.random): RenderBody {
  const parts = template(kind).split(/\{\{([^}]+)\}\}/);
  const fns: ((n: number) => string)[] = [];
  for (let i = 1; i < parts.length; i += 2) {
    const key = parts[i] ?? "";
    const m = /^n(?:([*/])([0-9.]+))?$/.exec(key);
    if (key === "running") fns.push(() => formatValue(Math.floor(random() * 17)));
    else if (key === "waiting") fns.push(() => formatValue(Math.floor(random() * 9)));
    else if (key === "kv") fns.push(() => formatValue(random()));
    else if (key === "now") fns.push(() => (Date.now() / 1000).toExponential(10).replace("e+", "e+0"));
    else if (m) {
      const k = Number(m[2] ?? 1);
      fns.push(m[1] === "/" ? (n) => formatValue(Math.floor(n / k)) : (n) => formatValue(n * k));
    } else throw new Error(`scrape-template.txt: unknown placeholder {{${key}}}`);
  }
  return (n) => {
    let out = parts[0] ?? "";
    for (let i = 1; i < parts.length; i += 2) out += (fns[(i - 1) / 2]?.(n) ?? "") + (parts[i + 1] ?? "");
    return out;
  };
}
