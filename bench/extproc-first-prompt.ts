/**
 * "First long prompt after start": a fresh kvroute (`prefix-cache`, 16 pods, `hf:Qwen3`) is started, and the moment
 * its `/readyz` answers 200 (polled every 10 ms) a first wave of `WAVE` 8k-token conversations is sent at once;
 * then the same process is warmed up and measured at the same concurrency. Compared: the slowest first-wave time
 * from sending the request headers to receiving the decision, against the warmed median of the same time.
 *
 * A kvroute that loads its HF tokenizer lazily (per worker, 0.5–3 s) makes the first wave wait for the load; one
 * whose readiness waits for the load does not. `WAVE` is at least kvroute's default `--tokenize-workers` (at most 4)
 * so every worker gets a first prompt.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import type { ProcessingRequest } from "../src/extproc/messages";
import { loadExtProcDefinition } from "../src/extproc/proto";
import { startKvroute } from "./children";
import type { BenchChild } from "./children";
import { ExtProcLoadClient, emptyResult, accumulate } from "./extproc-client";
import type { LoadResult } from "./extproc-client";
import { WORKLOADS, tokenizerChoice } from "./extproc-options";
import type { Options, WorkloadSpec } from "./extproc-options";
import { buildPoolWorkload } from "./extproc-pool";
import { promptTokenizer } from "./extproc-tokens";
import { startLoopbackFleetProcess } from "./loopback-fleet";

/** Conversations in the first wave (and concurrency of the warmed measurement). */
export const WAVE = 4;
const PODS = 16;
const MODEL = "m1";

/** What the first-prompt measurement found. */
export interface FirstPromptFigures {
  /** The configuration measured. */
  readonly configuration: string;
  readonly wave: number;
  readonly promptTokens: number;
  /** Request headers sent → decision received, per first-wave conversation, ms (errors excluded). */
  readonly firstWaveMs: readonly number[];
  /** Failed first-wave conversations. */
  readonly firstWaveErrors: number;
  /** Median of the same time once warmed, at the same concurrency. */
  readonly warmedP50Ms: number;
  readonly warmedConversations: number;
}

/** Headers-sent → decision time of each successful conversation of `r`, ms. */
function toDecisionMs(r: LoadResult): number[] {
  const { requestHeaders, requestBody } = r.latencies;
  return requestHeaders.map((h, i) => h + (requestBody[i] ?? Number.NaN));
}

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : (s[Math.floor((s.length - 1) / 2)] ?? Number.NaN);
}

/** Run the measurement (its own fleet and kvroute process). */
export async function measureFirstPrompt(
  o: Options,
  progress: (s: string) => void,
): Promise<FirstPromptFigures> {
  const { processService } = loadExtProcDefinition();
  const method = processService.Process;
  const choice = tokenizerChoice("hf:qwen3");
  const spec = WORKLOADS.find((w) => w.name === "chat-8k") as WorkloadSpec;
  const tokenizer = promptTokenizer(choice);
  const encode = method.requestSerialize as (m: ProcessingRequest) => Buffer;
  const workload = (() => {
    try {
      return buildPoolWorkload({ spec, model: MODEL, bodyMode: "BUFFERED", tokenizer, encode, seed: 99 });
    } finally {
      tokenizer.free();
    }
  })();
  const configuration = `prefix-cache, ${PODS} pods, ${choice.label}, BUFFERED, ${WAVE} streams`;
  progress(`first long prompt after start: ${configuration}`);
  const fleet = await startLoopbackFleetProcess(MODEL, PODS);
  let child: BenchChild | undefined;
  let client: ExtProcLoadClient | undefined;
  try {
    child = await startKvroute({
      name: "kvroute-fresh",
      endpointsFile: fleet.endpointsFile,
      logLevel: "info",
      routingAlgorithm: "prefix-cache",
      extraArgs: ["--tokenizer", choice.spec],
      readinessPollMs: 10,
    });
    const ready = performance.now();
    client = new ExtProcLoadClient({
      address: `127.0.0.1:${child.grpcPort}`,
      decode: method.responseDeserialize,
      validTargets: new Set(fleet.endpoints),
    });
    const seq = { next: 1 };
    const first = await client.runCount(workload, WAVE, seq);
    progress(`  first wave done ${(performance.now() - ready).toFixed(0)} ms after /readyz`);
    await client.run(workload, WAVE, Math.max(1, o.warmup + o.initialWarmup), seq);
    const warmed = emptyResult();
    accumulate(warmed, await client.run(workload, WAVE, o.seconds, seq));
    return {
      configuration,
      wave: WAVE,
      promptTokens: workload.promptTokens,
      firstWaveMs: toDecisionMs(first),
      firstWaveErrors: [...first.errors.values()].reduce((a, b) => a + b, 0),
      warmedP50Ms: median(toDecisionMs(warmed)),
      warmedConversations: warmed.conversations,
    };
  } finally {
    client?.close();
    await child?.stop();
    fleet.close();
  }
}
