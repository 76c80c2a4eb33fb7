/**
 * Runs a workload through the driver, open-loop: each request is sent at its `atMs` (and, when it names one, after
 * the request it follows has finished), whether or not earlier ones have answered, with an optional concurrency
 * cap beyond which requests queue (inference-perf's "max concurrency"). Returns per-request records and summary
 * figures as data; presenting them is the benchmark's job.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { EnvoyDriver } from "./envoy-driver";
import type { DriverOptions, DriverRequest, DriverResult } from "./driver-types";
import type { Workload, WorkloadRequest } from "./workloads";

/** What sends the requests: an `EnvoyDriver`, or anything shaped like one (e.g. `ReplicatedDriver`). */
export interface RequestSender {
  send(req: DriverRequest): Promise<DriverResult>;
  close(): void;
}

/** Options of {@link runWorkload}. */
export interface RunOptions {
  /** A driver to use (left open), or the options to make one (closed after the run). */
  readonly driver: RequestSender | DriverOptions;
  /** `model` of every request body. */
  readonly model: string;
  /** At most this many requests in flight; default unbounded (pure open loop). */
  readonly maxConcurrency?: number;
  /** Send `ignore_eos: true` (vLLM) so outputs are exactly `maxTokens` long; default true. */
  readonly ignoreEos?: boolean;
  /** Header carrying the request's `sessionId`, when set (session-affinity routing). */
  readonly sessionHeader?: string;
  /** Every pod address, so pods that got nothing count in the load spread. */
  readonly pods?: readonly string[];
  /** Called after each request finishes (progress display). */
  readonly onRecord?: (record: RequestRecord, finished: number, total: number) => void;
}

/** One request's record: the driver's result plus what the workload asked for and when it went out. */
export interface RequestRecord extends DriverResult {
  readonly id: string;
  /** Scheduled send time, ms after the run start. */
  readonly scheduledMs: number;
  /** Actual send time, ms after the run start (later than scheduled when waiting for a turn or a slot). */
  readonly sentMs: number;
  readonly inputTokens: number;
  readonly maxTokens: number;
  readonly sessionId?: string;
  readonly expectedPrefixGroup?: string;
}

/** Order statistics of one measure (linear interpolation between ranks); zeros when `count` is 0. */
export interface Percentiles {
  readonly count: number;
  readonly mean: number;
  readonly p50: number;
  readonly p90: number;
  readonly p99: number;
  readonly max: number;
}

/** Summary of a run. */
export interface RunSummary {
  readonly requests: number;
  readonly succeeded: number;
  /** Failures by `errorKind`, with `:status` appended when there is one (e.g. `immediate_response:400`). */
  readonly errors: Record<string, number>;
  /** First send to last finish. */
  readonly wallSeconds: number;
  readonly ttftMs: Percentiles;
  readonly e2eMs: Percentiles;
  /** Time to kvroute's routing decision, from the driver's side (includes the request-path round trips). */
  readonly decisionMs: Percentiles;
  readonly outputTokens: number;
  readonly outputTokensPerSecond: number;
  /** Requests routed to each pod (`ip:port`), failed ones included. */
  readonly perPod: Record<string, number>;
  /** Coefficient of variation (population std / mean) of `perPod`; 0 = perfectly even. */
  readonly loadSpreadCv: number;
  /** Σ cached_tokens / Σ prompt_tokens over requests whose usage reported cached tokens; undefined if none did. */
  readonly prefixCacheHitRate?: number;
}

/** The OpenAI request for `r`: chat completions for `messages`, completions for `prompt`; streaming with usage. */
export function requestBody(
  r: WorkloadRequest,
  model: string,
  ignoreEos = true,
): { path: string; body: string } {
  const common = {
    model,
    max_tokens: r.maxTokens,
    stream: true,
    stream_options: { include_usage: true },
    temperature: 0,
    ...(ignoreEos ? { ignore_eos: true } : {}),
  };
  if (r.messages !== undefined)
    return { path: "/v1/chat/completions", body: JSON.stringify({ ...common, messages: r.messages }) };
  return { path: "/v1/completions", body: JSON.stringify({ ...common, prompt: r.prompt ?? "" }) };
}

/** A counting semaphore (FIFO), for the concurrency cap. */
class Slots {
  private readonly waiting: (() => void)[] = [];
  constructor(private free: number) {}
  async take(): Promise<void> {
    if (this.free > 0) {
      this.free--;
      return;
    }
    await new Promise<void>((resolve) => this.waiting.push(resolve));
  }
  give(): void {
    const next = this.waiting.shift();
    if (next) next();
    else this.free++;
  }
}

/** Run `workload` and summarize. Never rejects because of a request: failures are records. */
export async function runWorkload(
  workload: Workload,
  o: RunOptions,
): Promise<{ records: RequestRecord[]; summary: RunSummary }> {
  const given = "send" in o.driver ? o.driver : undefined;
  const driver = given ?? new EnvoyDriver(o.driver as DriverOptions);
  const slots = new Slots(o.maxConcurrency ?? Number.POSITIVE_INFINITY);
  const finished = new Map<string, Promise<void>>();
  const records: RequestRecord[] = [];
  const total = workload.requests.length;
  const start = performance.now();
  const one = async (r: WorkloadRequest): Promise<void> => {
    const wait = start + r.atMs - performance.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    if (r.after !== undefined) await finished.get(r.after);
    await slots.take();
    const sentMs = performance.now() - start;
    let result: DriverResult;
    try {
      const { path, body } = requestBody(r, o.model, o.ignoreEos ?? true);
      const session = o.sessionHeader && r.sessionId ? { [o.sessionHeader]: r.sessionId } : undefined;
      const headers = r.headers || session ? { ...r.headers, ...session } : undefined;
      result = await driver.send({ path, body, requestId: r.id, ...(headers ? { headers } : {}) });
    } finally {
      slots.give();
    }
    const record: RequestRecord = {
      ...result,
      id: r.id,
      scheduledMs: r.atMs,
      sentMs,
      inputTokens: r.inputTokens,
      maxTokens: r.maxTokens,
      ...(r.sessionId === undefined ? {} : { sessionId: r.sessionId }),
      ...(r.expectedPrefixGroup === undefined ? {} : { expectedPrefixGroup: r.expectedPrefixGroup }),
    };
    records.push(record);
    o.onRecord?.(record, records.length, total);
  };
  // `after` names an earlier request (workloads are time-sorted and a turn follows its predecessor), so its
  // promise is registered by the time this one looks it up.
  for (const r of workload.requests) finished.set(r.id, one(r));
  try {
    await Promise.all(finished.values());
  } finally {
    if (!given) driver.close();
  }
  const wallSeconds = (performance.now() - start) / 1000;
  return { records, summary: summarize(records, wallSeconds, o.pods) };
}

/** Percentiles of `values` (linear interpolation, as numpy's default). */
export function percentiles(values: readonly number[]): Percentiles {
  if (values.length === 0) return { count: 0, mean: 0, p50: 0, p90: 0, p99: 0, max: 0 };
  const v = [...values].sort((a, b) => a - b);
  const at = (q: number): number => {
    const pos = (v.length - 1) * q;
    const lo = Math.floor(pos);
    const a = v[lo] ?? 0;
    const b = v[Math.min(lo + 1, v.length - 1)] ?? a;
    return a + (b - a) * (pos - lo);
  };
  const mean = v.reduce((s, x) => s + x, 0) / v.length;
  return { count: v.length, mean, p50: at(0.5), p90: at(0.9), p99: at(0.99), max: v[v.length - 1] ?? 0 };
}

/** Coefficient of variation of `counts` (0 for fewer than one pod or no requests). */
export function coefficientOfVariation(counts: readonly number[]): number {
  if (counts.length === 0) return 0;
  const mean = counts.reduce((s, x) => s + x, 0) / counts.length;
  if (mean === 0) return 0;
  const variance = counts.reduce((s, x) => s + (x - mean) ** 2, 0) / counts.length;
  return Math.sqrt(variance) / mean;
}

/** Summary figures of `records` over a run of `wallSeconds`; `pods` adds pods that received nothing. */
export function summarize(
  records: readonly RequestRecord[],
  wallSeconds: number,
  pods: readonly string[] = [],
): RunSummary {
  const ok = records.filter((r) => r.ok);
  const errors: Record<string, number> = {};
  for (const r of records) {
    if (r.ok) continue;
    const key = `${r.errorKind ?? "internal"}${r.status === undefined ? "" : `:${r.status}`}`;
    errors[key] = (errors[key] ?? 0) + 1;
  }
  const perPod: Record<string, number> = {};
  for (const p of pods) perPod[p] = 0;
  for (const r of records) if (r.pod !== undefined) perPod[r.pod] = (perPod[r.pod] ?? 0) + 1;
  const outputTokens = ok.reduce((s, r) => s + (r.outputTokens ?? 0), 0);
  const cached = ok.filter((r) => r.cachedTokens !== undefined && r.promptTokens);
  const prompt = cached.reduce((s, r) => s + (r.promptTokens ?? 0), 0);
  const num = (xs: readonly (number | undefined)[]): number[] =>
    xs.filter((x): x is number => x !== undefined);
  return {
    requests: records.length,
    succeeded: ok.length,
    errors,
    wallSeconds,
    ttftMs: percentiles(num(ok.map((r) => r.ttftMs))),
    e2eMs: percentiles(ok.map((r) => r.e2eMs)),
    decisionMs: percentiles(num(records.map((r) => r.decisionMs))),
    outputTokens,
    outputTokensPerSecond: wallSeconds > 0 ? outputTokens / wallSeconds : 0,
    perPod,
    loadSpreadCv: coefficientOfVariation(Object.values(perPod)),
    ...(prompt > 0
      ? { prefixCacheHitRate: cached.reduce((s, r) => s + (r.cachedTokens ?? 0), 0) / prompt }
      : {}),
  };
}
