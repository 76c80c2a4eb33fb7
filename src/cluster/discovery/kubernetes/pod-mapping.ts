/**
 * Pure mapping from a Kubernetes Pod object to a routing `Pod`, following AIBrix's labels (as its pod
 * discovery in `pkg/cache` reads them). No I/O; the discovery source calls it whenever a pod, its adapters or
 * the InferencePool change.
 *
 * Input objects come either from a list (deserialised by the client: dates are `Date`) or from a watch event (raw
 * JSON: dates are strings), so only shapes common to both are relied on, and every field is checked before use.
 *
 * @module
 */
import type { V1Pod } from "@kubernetes/client-node";
import type { ModelConfig } from "../../model-config";
import { parseModelConfig, sameModelConfig } from "../../model-config";
import { ANY_MODEL } from "../../cluster-state";
import { DATA_PARALLEL_SIZE_LABEL, expandRanks, parseDataParallelSize, rankPorts } from "../../data-parallel";
import type { Pod } from "../../pod";
import { formatAddress } from "../../pod";

/** Label (or, for names not valid as label values such as `org/model`, annotation) naming the served model. */
export const MODEL_NAME_LABEL = "model.aibrix.ai/name";
/** Label with the serving port. */
export const MODEL_PORT_LABEL = "model.aibrix.ai/port";
/** Label with the engine's `/metrics` port. */
export const METRIC_PORT_LABEL = "model.aibrix.ai/metric-port";
/** Label with the engine name. */
export const ENGINE_LABEL = "model.aibrix.ai/engine";
/** Ray sets this to `worker` on worker pods, which serve nothing themselves. */
export const RAY_NODE_TYPE_LABEL = "ray.io/node-type";
/** Index of a pod in a multi-node StormService group; only index 0 serves. */
export const POD_GROUP_INDEX_LABEL = "stormservice.orchestration.aibrix.ai/pod-group-index";
/** Annotation with the model's config profiles (JSON; see `cluster/model-config.ts`). */
export const MODEL_CONFIG_ANNOTATION = "model.aibrix.ai/config";
/** Default label naming the pod's deployment (`--pod-deployment-label`, AIBrix's `AIBRIX_POD_DEPLOYMENT_LABEL`). */
export const DEPLOYMENT_LABEL = "app.kubernetes.io/name";
/** Label naming the RayClusterFleet of a Ray pod; AIBrix prefers it to every other deployment source. */
export const RAY_FLEET_LABEL = "orchestration.aibrix.ai/raycluster-fleet-name";
/** The hash a Deployment's ReplicaSet appends to its name (`<deployment>-<hash>`). */
export const POD_TEMPLATE_HASH_LABEL = "pod-template-hash";

/** Serving port when the label is absent or not a port number (AIBrix falls back the same way). */
export const DEFAULT_MODEL_PORT = 8000;
/** Engine when the label is absent. */
export const DEFAULT_ENGINE = "vllm";

/** The pod source in InferencePool mode: which pods belong and where they serve. */
export interface PoolSpec {
  /** Pods must carry every one of these labels (the pool's `spec.selector.matchLabels`); never empty. */
  readonly matchLabels: Readonly<Record<string, string>>;
  /** Serving port of every member (the pool's first `spec.targetPorts[].number`), 1..65535. */
  readonly port: number;
  /**
   * Every `spec.targetPorts[].number`, in order, distinct (`port` first). Several: each member serves one
   * data-parallel rank per port, routed as an endpoint each (see `data-parallel.ts`).
   */
  readonly ports: readonly number[];
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** The string-valued entries of a label or annotation map (anything else is dropped). */
export function stringMap(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (!isRecord(v)) return out;
  for (const [k, val] of Object.entries(v)) if (typeof val === "string") out[k] = val;
  return out;
}

/** A TCP port from a label value: a decimal integer in 1..65535, else `undefined`. */
export function parsePort(value: string | undefined): number | undefined {
  if (value === undefined || !/^\d{1,5}$/.test(value.trim())) return undefined;
  const n = Number(value.trim());
  return n >= 1 && n <= 65535 ? n : undefined;
}

/** Whether every `matchLabels` entry is among `labels`. An empty selector matches nothing (see `PoolSpec`). */
export function matchesSelector(
  labels: Readonly<Record<string, string>>,
  matchLabels: Readonly<Record<string, string>>,
): boolean {
  const entries = Object.entries(matchLabels);
  return entries.length > 0 && entries.every(([k, v]) => labels[k] === v);
}

/** Ray workers and non-leader StormService group members are never routed to. */
export function isIgnoredPod(labels: Readonly<Record<string, string>>): boolean {
  if (labels[RAY_NODE_TYPE_LABEL] === "worker") return true;
  const index = labels[POD_GROUP_INDEX_LABEL];
  return index !== undefined && /^\d+$/.test(index.trim()) && Number(index.trim()) > 0;
}

/** The model a pod names: the label, else the annotation; `undefined` if neither is a non-empty string. */
export function modelNameOf(
  labels: Readonly<Record<string, string>>,
  annotations: Readonly<Record<string, string>>,
): string | undefined {
  const name = labels[MODEL_NAME_LABEL] || annotations[MODEL_NAME_LABEL];
  return name ? name : undefined;
}

/**
 * Routable: the pod has an IP, its `Ready` condition is `"True"`, and it is not terminating (no
 * `metadata.deletionTimestamp`).
 */
export function isPodReady(obj: V1Pod): boolean {
  const status: unknown = obj.status;
  if (!isRecord(status) || typeof status.podIP !== "string" || status.podIP === "") return false;
  if (isRecord(obj.metadata) && obj.metadata.deletionTimestamp) return false;
  const conditions = Array.isArray(status.conditions) ? (status.conditions as unknown[]) : [];
  return conditions.some((c) => isRecord(c) && c.type === "Ready" && c.status === "True");
}

const sortedUnique = (names: Iterable<string>): string[] => [...new Set(names)].sort();

/** The owners of a pod as `[kind, name]`, controller first (a pod may list several; the controller decides). */
function ownersOf(meta: unknown): [string, string][] {
  const refs =
    isRecord(meta) && Array.isArray(meta.ownerReferences) ? (meta.ownerReferences as unknown[]) : [];
  const owners: [string, string, boolean][] = [];
  for (const r of refs) {
    if (isRecord(r) && typeof r.kind === "string" && typeof r.name === "string" && r.name !== "") {
      owners.push([r.kind, r.name, r.controller === true]);
    }
  }
  return owners.sort((a, b) => Number(b[2]) - Number(a[2])).map(([kind, name]) => [kind, name]);
}

/**
 * The workload a pod belongs to (AIBrix `DeploymentNameFromPod`): the RayClusterFleet label, the `deploymentLabel`
 * label (default `app.kubernetes.io/name`), else its owner: a ReplicaSet's name without the `-<pod-template-hash>`
 * (a Deployment's name), a RayCluster's name without its two generated suffixes (the fleet), any other owner's name
 * (a StatefulSet, a LeaderWorkerSet…) as is. Undefined when none applies.
 */
export function deploymentOfObject(
  meta: unknown,
  labels: Readonly<Record<string, string>>,
  deploymentLabel: string = DEPLOYMENT_LABEL,
): string | undefined {
  const labelled = labels[RAY_FLEET_LABEL] || labels[deploymentLabel];
  if (labelled) return labelled;
  const owner = ownersOf(meta)[0];
  if (owner === undefined) return undefined;
  const [kind, name] = owner;
  if (kind === "ReplicaSet") {
    const hash = labels[POD_TEMPLATE_HASH_LABEL];
    if (hash && name.endsWith(`-${hash}`) && name.length > hash.length + 1) {
      return name.slice(0, -hash.length - 1);
    }
    // Without the label, drop the last dash-separated word as AIBrix does (`^(.*)-\w+$`).
    return /^(.+)-\w+$/.exec(name)?.[1] ?? name;
  }
  if (kind === "RayCluster") return /^(.+)-\w+-\w+$/.exec(name)?.[1] ?? name;
  return name;
}

/**
 * The pod's model config from its annotation; undefined when absent or malformed (then `onBadConfig` hears why,
 * so discovery can log it once).
 */
function modelConfigOf(
  annotations: Readonly<Record<string, string>>,
  onBadConfig: ((reason: string) => void) | undefined,
): ModelConfig | undefined {
  const text = annotations[MODEL_CONFIG_ANNOTATION];
  if (text === undefined || text.trim() === "") return undefined;
  const parsed = parseModelConfig(text);
  if (parsed.ok) return parsed.config;
  onBadConfig?.(parsed.reason);
  return undefined;
}

/**
 * The routing `Pod` for a Kubernetes Pod, or `undefined` when the pod is not part of the fleet.
 *
 * Not part of the fleet: no `metadata.name`/`namespace`; a Ray worker or a StormService member with group index
 * > 0; without `pool`, no `model.aibrix.ai/name` label or annotation; with `pool`, labels that do not match its
 * selector. A member that is not routable (no IP yet, not Ready, terminating) is returned with `ready: false`, and,
 * when it has no IP, with `ip` and `address` empty, so it still shows in `/debug/state`.
 *
 * @param adapters LoRA adapter names that `ModelAdapter` objects place on this pod; added to `models` and
 *   `adapters`.
 * @param pool InferencePool mode: membership by selector, port from the pool, and `models` = the pod's model name
 *   if it has one, else `["*"]` (`ANY_MODEL`). Without it, AIBrix label mode: port from `model.aibrix.ai/port`
 *   (default 8000; an invalid value also gives 8000, as in AIBrix).
 * Metrics port: `model.aibrix.ai/metric-port` if valid, else the serving port. Engine: `model.aibrix.ai/engine`,
 * else `vllm`. Model config: annotation `model.aibrix.ai/config`. Deployment: see {@link deploymentOfObject}.
 * @param onBadConfig Called with the reason when the config annotation is present but malformed (the pod is
 *   still mapped, without a config).
 * @param deploymentLabel The label naming the pod's deployment (`--pod-deployment-label`).
 */
export function podFromObject(
  obj: V1Pod,
  adapters: readonly string[] = [],
  pool?: PoolSpec,
  onBadConfig?: (reason: string) => void,
  deploymentLabel: string = DEPLOYMENT_LABEL,
): Pod | undefined {
  const meta = obj.metadata;
  const name = meta?.name;
  const namespace = meta?.namespace;
  if (typeof name !== "string" || name === "" || typeof namespace !== "string" || namespace === "")
    return undefined;
  const labels = stringMap(meta?.labels);
  if (isIgnoredPod(labels)) return undefined;
  const annotations = stringMap(meta?.annotations);
  const modelName = modelNameOf(labels, annotations);
  let port: number;
  let baseModels: string[];
  if (pool) {
    if (!matchesSelector(labels, pool.matchLabels)) return undefined;
    port = pool.port;
    baseModels = [modelName ?? ANY_MODEL];
  } else {
    if (modelName === undefined) return undefined;
    port = parsePort(labels[MODEL_PORT_LABEL]) ?? DEFAULT_MODEL_PORT;
    baseModels = [modelName];
  }
  const status: unknown = obj.status;
  const podIP = isRecord(status) && typeof status.podIP === "string" ? status.podIP : "";
  const adapterNames = sortedUnique(adapters);
  const modelConfig = modelConfigOf(annotations, onBadConfig);
  const deployment = deploymentOfObject(meta, labels, deploymentLabel);
  const uid = meta?.uid;
  return {
    key: `${namespace}/${name}`,
    name,
    ...(typeof uid === "string" && uid !== "" ? { uid } : {}),
    namespace,
    ip: podIP,
    port,
    address: podIP === "" ? "" : formatAddress(podIP, port),
    metricsPort: parsePort(labels[METRIC_PORT_LABEL]) ?? port,
    models: sortedUnique([...baseModels, ...adapterNames]),
    adapters: adapterNames,
    ready: isPodReady(obj),
    engine: labels[ENGINE_LABEL] || DEFAULT_ENGINE,
    labels,
    ...(modelConfig === undefined ? {} : { modelConfig }),
    ...(deployment === undefined ? {} : { deployment }),
  };
}

/**
 * The routing endpoints of a Kubernetes Pod: {@link podFromObject}'s pod, expanded into one endpoint per
 * data-parallel rank when it serves several (see `data-parallel.ts`): one per `targetPorts` entry of a pool that
 * lists several, else `model.aibrix.ai/data-parallel-size` ranks on consecutive ports from the pod's port. Empty
 * when the pod is not part of the fleet.
 *
 * @param onBadDataParallelSize Called with the reason when the DP label is present but not a usable count (the
 *   pod is then one endpoint).
 */
export function podsFromObject(
  obj: V1Pod,
  adapters: readonly string[] = [],
  pool?: PoolSpec,
  onBadConfig?: (reason: string) => void,
  onBadDataParallelSize?: (reason: string) => void,
  deploymentLabel: string = DEPLOYMENT_LABEL,
): Pod[] {
  const pod = podFromObject(obj, adapters, pool, onBadConfig, deploymentLabel);
  if (pod === undefined) return [];
  if (pool !== undefined && pool.ports.length > 1) return expandRanks(pod, pool.ports);
  const parsed = parseDataParallelSize(pod.labels[DATA_PARALLEL_SIZE_LABEL]);
  if ("invalid" in parsed) {
    onBadDataParallelSize?.(parsed.invalid);
    return [pod];
  }
  return expandRanks(pod, rankPorts(pod.port, parsed.size));
}

const sameList = (a: readonly string[], b: readonly string[]): boolean =>
  a.length === b.length && a.every((v, i) => v === b[i]);

/** Whether two mapped pods are equal in every field (so an unchanged pod need not trigger a store replace). */
export function samePod(a: Pod, b: Pod): boolean {
  if (
    a.key !== b.key ||
    a.uid !== b.uid ||
    a.ip !== b.ip ||
    a.port !== b.port ||
    a.address !== b.address ||
    a.metricsPort !== b.metricsPort ||
    a.ready !== b.ready ||
    a.engine !== b.engine ||
    a.deployment !== b.deployment ||
    a.dataParallelRank !== b.dataParallelRank ||
    !sameModelConfig(a.modelConfig, b.modelConfig) ||
    !sameList(a.models, b.models) ||
    !sameList(a.adapters, b.adapters)
  ) {
    return false;
  }
  const ka = Object.keys(a.labels);
  return ka.length === Object.keys(b.labels).length && ka.every((k) => a.labels[k] === b.labels[k]);
}
