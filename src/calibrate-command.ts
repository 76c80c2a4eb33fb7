/**
 * `kvroute calibrate`: measure a running pod's prefill throughput from its own counters and print the gate
 * `prefix-affinity` would use. The pod's `/metrics` is read twice, `--seconds` apart; the throughput is the rate of
 * prompt tokens it computed (`prompt_tokens_total − prefix_cache_hits_total`) in between. A pod shows its capacity
 * only while it has a backlog, so run this while the pod is saturated (a load test, or peak traffic): an idle
 * window gives a low figure, which makes the gate leave a pod's cache early.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { parseArgs } from "node:util";
import { computedPromptTokens, engineMetricsFromText, parsePrometheusText, prefillRate } from "./cluster";
import type { EngineMetrics } from "./cluster";

export const CALIBRATE_USAGE = `Usage: kvroute calibrate --metrics-url URL [options]

Reads a running pod's Prometheus metrics twice and prints its measured prefill throughput (prompt tokens computed
per second, cached ones excluded) and the prefix-affinity gate and flag value that follow from it. Measure while
the pod is saturated: an idle pod shows less than its capacity.

  --metrics-url URL      the pod's metrics, e.g. http://127.0.0.1:8000/metrics
  --seconds N            time between the two readings (default 10)
  --ttft-penalty-ms MS   the acceptable TTFT penalty of the gate (default 1000, as --prefix-affinity-ttft-penalty-ms)
  --model NAME           the model name to print in the flag value (default MODEL)
  --timeout-ms MS        give up on a reading after this long (default 5000)
  --help                 this text
`;

/** Largest metrics body read (a vLLM pod's is tens of KiB); beyond it the reading fails rather than buffer more. */
const MAX_BODY_BYTES = 16 * 1024 * 1024;

/** A bad command line (exit 2). */
class UsageError extends Error {}

interface CalibrateOptions {
  readonly url: string;
  readonly seconds: number;
  readonly penaltyMs: number;
  readonly model: string;
  readonly timeoutMs: number;
}

/** What the command waits with and reads the time from (injected by tests). */
export interface CalibrateClock {
  now(): number;
  sleep(ms: number): Promise<void>;
}

const realClock: CalibrateClock = {
  now: () => performance.now(),
  sleep: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
};

function positive(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0 || n > 86_400_000)
    throw new UsageError(`--${name} must be a positive number, got ${text}`);
  return n;
}

/** Parse `kvroute calibrate`'s flags; undefined for `--help`. */
export function parseCalibrateArgs(args: readonly string[]): CalibrateOptions | undefined {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      allowPositionals: false,
      options: {
        "metrics-url": { type: "string" },
        seconds: { type: "string" },
        "ttft-penalty-ms": { type: "string" },
        model: { type: "string" },
        "timeout-ms": { type: "string" },
        help: { type: "boolean" },
      },
    }));
  } catch (e) {
    throw new UsageError((e as Error).message);
  }
  if (values.help === true) return undefined;
  const url = values["metrics-url"];
  if (url === undefined) throw new UsageError("--metrics-url is required");
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new UsageError(`--metrics-url must be an http:// or https:// URL, got ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:")
    throw new UsageError(`--metrics-url must be an http:// or https:// URL, got ${url}`);
  return {
    url,
    seconds: positive("seconds", values.seconds, 10),
    penaltyMs: positive("ttft-penalty-ms", values["ttft-penalty-ms"], 1000),
    model: values.model ?? "MODEL",
    timeoutMs: positive("timeout-ms", values["timeout-ms"], 5000),
  };
}

/** One reading of the pod's metrics, timed by `clock`. */
async function read(o: CalibrateOptions, clock: CalibrateClock): Promise<EngineMetrics> {
  const res = await fetch(o.url, { signal: AbortSignal.timeout(o.timeoutMs) });
  if (!res.ok) throw new Error(`HTTP ${res.status}`);
  const length = Number(res.headers.get("content-length") ?? "0");
  if (length > MAX_BODY_BYTES) throw new Error(`body of ${length} bytes is over ${MAX_BODY_BYTES}`);
  const text = await res.text();
  if (text.length > MAX_BODY_BYTES) throw new Error(`body is over ${MAX_BODY_BYTES} bytes`);
  return engineMetricsFromText(parsePrometheusText(text), clock.now());
}

const fmt = (n: number): string => Math.round(n).toLocaleString("en-US");

/** Run `kvroute calibrate` with `args`; resolves with the exit code. */
export async function runCalibrate(
  args: readonly string[],
  out: (s: string) => void = (s) => process.stdout.write(`${s}\n`),
  err: (s: string) => void = (s) => process.stderr.write(`${s}\n`),
  clock: CalibrateClock = realClock,
): Promise<number> {
  let o: CalibrateOptions | undefined;
  try {
    o = parseCalibrateArgs(args);
  } catch (e) {
    if (!(e instanceof UsageError)) throw e;
    err(`kvroute calibrate: ${e.message}\n${CALIBRATE_USAGE}`);
    return 2;
  }
  if (o === undefined) {
    out(CALIBRATE_USAGE);
    return 0;
  }
  let before: EngineMetrics;
  let after: EngineMetrics;
  try {
    before = await read(o, clock);
    await clock.sleep(o.seconds * 1000);
    after = await read(o, clock);
  } catch (e) {
    err(`kvroute calibrate: reading ${o.url} failed: ${(e as Error).message}`);
    return 1;
  }
  const b = computedPromptTokens(before);
  const a = computedPromptTokens(after);
  if (a === undefined || b === undefined) {
    err(`kvroute calibrate: ${o.url} reports no prompt-token counter (vllm:prompt_tokens_total)`);
    return 1;
  }
  const rate = prefillRate({ atMs: before.scrapedAtMs, tokens: b }, { atMs: after.scrapedAtMs, tokens: a });
  if (rate === undefined) {
    err(
      "kvroute calibrate: the counters went back between the readings (the engine restarted); run it again",
    );
    return 1;
  }
  const seconds = (after.scrapedAtMs - before.scrapedAtMs) / 1000;
  const promptRate = ((after.promptTokensTotal ?? 0) - (before.promptTokensTotal ?? 0)) / seconds;
  out(`prefill throughput: ${fmt(rate)} tokens/s computed over ${seconds.toFixed(1)} s`);
  out(`  (prompt tokens ${fmt(promptRate)}/s, of which cached ${fmt(promptRate - rate)}/s)`);
  if (rate === 0) {
    err(
      "kvroute calibrate: no prompt tokens were computed in the window; measure while the pod is under load",
    );
    return 1;
  }
  const tau = (rate * o.penaltyMs) / 1000;
  out(
    `gate cap at a ${fmt(o.penaltyMs)} ms TTFT penalty: ${fmt(tau)} uncached prompt tokens of backlog beyond the least busy pod's`,
  );
  out(`flag:  --prefix-affinity-prefill-throughput ${o.model}=${Math.round(rate)}`);
  out(`env:   KVROUTE_PREFIX_AFFINITY_PREFILL_THROUGHPUT=${o.model}=${Math.round(rate)}`);
  return 0;
}
