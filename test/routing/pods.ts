/**
 * Test fixtures for routing: pods, a fleet (cluster store + load tracker), requests, headers and a seeded random.
 *
 * @module
 */
import { createClusterStore, type ClusterStore } from "../../src/cluster/cluster-state";
import { createLoadTracker, type LoadTracker } from "../../src/cluster/load-tracker";
import { formatAddress, type Pod } from "../../src/cluster/pod";
import type { InferenceRequest } from "../../src/request/inference-request";
import type { HeaderView, PreparedPrompt, RoutingContext } from "../../src/routing/framework";
import type { EngineMetrics } from "../../src/cluster/engine-metrics";
import type { PodObservation } from "../../src/cluster/observations";
import { seededRandom } from "../../src/seeded-random";
export { seededRandom } from "../../src/seeded-random";

/** The model every fixture pod serves unless told otherwise. */
export const MODEL = "llama-3-8b";

/** Pod number `i`: `default/pod-<i>` at `10.0.<i/256>.<i%256>:8000`, ready, serving {@link MODEL}. */
export function makePod(i: number, overrides: Partial<Pod> = {}): Pod {
  const ip = overrides.ip ?? `10.0.${Math.floor(i / 256)}.${i % 256}`;
  const port = overrides.port ?? 8000;
  const name = overrides.name ?? `pod-${i}`;
  return {
    key: `default/${name}`,
    name,
    namespace: "default",
    ip,
    port,
    address: formatAddress(ip, port),
    models: [MODEL],
    ready: true,
    engine: "vllm",
    labels: {},
    metricsPort: port,
    adapters: [],
    ...overrides,
  };
}

/** A cluster store and load tracker holding `pods`. */
export interface Fleet {
  readonly store: ClusterStore;
  readonly load: LoadTracker;
  readonly pods: readonly Pod[];
}

/**
 * Build a fleet of `count` pods; indexes in `unready` are not ready. Every pod serves `model` (default
 * {@link MODEL}) and the LoRA `adapters` (listed in both `models` and `adapters`).
 */
export function makeFleet(
  count: number,
  options: { unready?: readonly number[]; model?: string; adapters?: readonly string[] } = {},
): Fleet {
  const unready = new Set(options.unready ?? []);
  const adapters = [...(options.adapters ?? [])].sort();
  const models = [options.model ?? MODEL, ...adapters].sort();
  const pods = Array.from({ length: count }, (_, i) =>
    makePod(i, { ready: !unready.has(i), models, adapters }),
  );
  const store = createClusterStore();
  store.replace(pods);
  return { store, load: createLoadTracker(), pods };
}

/** Put `requests[i]` requests in flight on `pods[i]` (never released: tests throw the tracker away). */
export function preload(load: LoadTracker, pods: readonly Pod[], requests: readonly number[]): void {
  requests.forEach((n, i) => {
    const pod = pods[i];
    if (!pod) throw new Error(`no pod ${i}`);
    for (let k = 0; k < n; k++) load.reserve(pod.key, 0);
  });
}

/** A chat request for `model` with a `promptTokens` estimate; `overrides` replace any other field. */
export function makeRequest(
  model = MODEL,
  promptTokens = 10,
  overrides: Partial<InferenceRequest> = {},
): InferenceRequest {
  return {
    endpoint: "chat-completions",
    path: "/v1/chat/completions",
    model,
    stream: false,
    includeUsage: false,
    user: undefined,
    maxTokens: undefined,
    prompt: { t: "text", text: "hello" },
    promptTokens,
    bodyBytes: 64,
    ...overrides,
  };
}

/** Fresh engine metrics with only the given fields reported (`byModel` empty unless given). */
export function makeMetrics(fields: Partial<EngineMetrics> = {}): EngineMetrics {
  return { scrapedAtMs: 0, byModel: new Map(), ...fields };
}

/** An observation with the given means (`samples` 10, `updatedAtMs` 0 unless given). */
export function makeObservation(fields: Partial<PodObservation> = {}): PodObservation {
  return { samples: 10, updatedAtMs: 0, ...fields };
}

/** Key `values[i]` by `pods[i].key`, dropping undefined entries (the pod has none). */
export function byPod<T>(pods: readonly Pod[], values: readonly (T | undefined)[]): Map<string, T> {
  const out = new Map<string, T>();
  values.forEach((v, i) => {
    const pod = pods[i];
    if (v !== undefined && pod) out.set(pod.key, v);
  });
  return out;
}

/** A header view over a plain record (keys given lower-case). */
export function headersOf(record: Readonly<Record<string, string>> = {}): HeaderView {
  return { get: (name) => (Object.prototype.hasOwnProperty.call(record, name) ? record[name] : undefined) };
}

/** A source that replays `values` in order, then repeats the last one. */
export function sequence(values: readonly number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)] ?? 0;
}

/** A routing context for calling a strategy directly. */
export function makeContext(
  load: LoadTracker,
  options: {
    headers?: Readonly<Record<string, string>>;
    random?: () => number;
    metrics?: ReadonlyMap<string, EngineMetrics>;
    observations?: ReadonlyMap<string, PodObservation>;
    /** Replaces fields of the default request (e.g. `model`, `maxTokens`). */
    request?: Partial<InferenceRequest>;
    /** The prepared prompt (default: nothing tokenized). */
    prompt?: PreparedPrompt;
  } = {},
): RoutingContext {
  const random = options.random ?? seededRandom(1);
  return {
    requestId: "req-1",
    request: makeRequest(MODEL, 10, options.request),
    headers: headersOf(options.headers),
    load: (key) => load.get(key),
    metrics: (key) => options.metrics?.get(key),
    observation: (key) => options.observations?.get(key),
    random: () => random(),
    prompt: options.prompt ?? {
      tokens: undefined,
      context: "",
      unavailableReason: "not-prepared",
      keys: () => new BigUint64Array(0),
    },
  };
}
