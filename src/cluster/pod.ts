/**
 * A model-server pod as routing sees it: an immutable value, replaced (never mutated) when discovery learns
 * something new about it.
 *
 * @module
 */
import type { ModelConfig } from "./model-config";

/** One serving endpoint. Created by a discovery source; read by strategies. */
export interface Pod {
  /**
   * Stable identity across updates: `namespace/name` (`namespace/name/rank-<r>` for one data-parallel rank of a
   * pod). Keys in-flight accounting and indexes.
   */
  readonly key: string;
  /**
   * Pod name (`target-pod` response header), the same on every data-parallel rank of a pod. For static endpoints,
   * the endpoint `host:port` as listed.
   */
  readonly name: string;
  /**
   * Kubernetes pod UID: tells a pod re-created under the same name (a new process, an empty KV cache) from the one
   * before it. Absent for static endpoints.
   */
  readonly uid?: string;
  /** Kubernetes namespace; `"static"` for endpoints from the standalone file. */
  readonly namespace: string;
  /** IP (or host name, in standalone mode) Envoy connects to. */
  readonly ip: string;
  /** Serving port (`model.aibrix.ai/port`, default 8000). */
  readonly port: number;
  /** `ip:port` (`[ip]:port` for IPv6): the value of the request-side `target-pod` header. */
  readonly address: string;
  /** Port of the engine's Prometheus `/metrics` (`model.aibrix.ai/metric-port`, default: the serving port). */
  readonly metricsPort: number;
  /** Models (base models and adapters) this pod serves, sorted. A request for any of them may go here. */
  readonly models: readonly string[];
  /** The LoRA adapters among `models` (from `ModelAdapter` objects), sorted. */
  readonly adapters: readonly string[];
  /** Routable: has an address, Ready, not terminating. Strategies never see an unready pod. */
  readonly ready: boolean;
  /** Engine label (`model.aibrix.ai/engine`): `vllm` unless told otherwise. */
  readonly engine: string;
  /** Labels, for `external-filter` selectors and debugging. */
  readonly labels: Readonly<Record<string, string>>;
  /**
   * The pod's model config profiles (annotation `model.aibrix.ai/config`, or `config` in the endpoints file);
   * absent when none or malformed. The director uses the first pod of a model that has one.
   */
  readonly modelConfig?: ModelConfig;
  /**
   * The workload the pod belongs to (the label `--pod-deployment-label` names, default `app.kubernetes.io/name`, else
   * its ReplicaSet's Deployment, else its owner's name; `deployment` in the endpoints file): keys GPU profiles.
   * Absent when unknown.
   */
  readonly deployment?: string;
  /**
   * The data-parallel rank this endpoint serves when its pod serves several ranks, each routed as an endpoint of
   * its own (see `data-parallel.ts`): picks its KV-event ports (base + rank), the rank its KV-event batches must
   * carry, and its `engine="<rank>"` metrics series. Absent for a pod with one rank.
   */
  readonly dataParallelRank?: number;
}

/** Format `ip:port` the way Envoy's ORIGINAL_DST cluster reads it (IPv6 in brackets). */
export function formatAddress(ip: string, port: number): string {
  return ip.includes(":") && !ip.startsWith("[") ? `[${ip}]:${port}` : `${ip}:${port}`;
}

/**
 * What makes two snapshots' pods under one key the same serving process as far as kvroute can tell: the same UID
 * (Kubernetes) and the same address. A change means state learnt about the old one (health, routed prefixes) no
 * longer applies.
 */
export function podIdentity(pod: Pod): string {
  return `${pod.uid ?? ""}@${pod.address}`;
}

/**
 * How logs and metric labels name an endpoint: the pod name, with `/rank-<r>` for one data-parallel rank of a pod
 * (the ranks share the pod name, yet each has its own load, index and stream to tell apart).
 */
export function endpointName(pod: Pod): string {
  return pod.dataParallelRank === undefined ? pod.name : `${pod.name}/rank-${pod.dataParallelRank}`;
}
