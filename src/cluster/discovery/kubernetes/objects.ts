/**
 * Type guards and parsers for the untyped JSON the API server sends for custom resources (ModelAdapter,
 * InferencePool) and for list responses. Pure; nothing here throws on bad input.
 *
 * @module
 */
import type { KubernetesListObject, KubernetesObject } from "@kubernetes/client-node";
import type { PoolSpec } from "./pod-mapping";
import { parsePort, stringMap } from "./pod-mapping";

/** Where a watched resource lives on the API server. */
export interface ResourceRef {
  /** `""` for the core group. */
  readonly group: string;
  readonly version: string;
  readonly plural: string;
}

/** Core Pods. */
export const PODS: ResourceRef = { group: "", version: "v1", plural: "pods" };
/** AIBrix LoRA adapters. */
export const MODEL_ADAPTERS: ResourceRef = {
  group: "model.aibrix.ai",
  version: "v1alpha1",
  plural: "modeladapters",
};
/** Gateway API Inference Extension pools (v1). */
export const INFERENCE_POOLS: ResourceRef = {
  group: "inference.networking.k8s.io",
  version: "v1",
  plural: "inferencepools",
};

/** The list/watch path of `ref`, cluster-wide or in one namespace. */
export function resourcePath(ref: ResourceRef, namespace?: string): string {
  const base = ref.group === "" ? `/api/${ref.version}` : `/apis/${ref.group}/${ref.version}`;
  return namespace === undefined
    ? `${base}/${ref.plural}`
    : `${base}/namespaces/${encodeURIComponent(namespace)}/${ref.plural}`;
}

const isRecord = (v: unknown): v is Record<string, unknown> =>
  typeof v === "object" && v !== null && !Array.isArray(v);

/** An object with a non-empty `metadata.name` (the informer indexes by name and namespace). */
export function isNamedObject(v: unknown): v is KubernetesObject & { metadata: { name: string } } {
  return isRecord(v) && isRecord(v.metadata) && typeof v.metadata.name === "string" && v.metadata.name !== "";
}

/**
 * Narrow a list response: `items` must be an array; items without a name are dropped (the informer would throw
 * on them), and the list's `metadata.resourceVersion` is kept when it is a string. `undefined` if not a list.
 */
export function asObjectList(v: unknown): KubernetesListObject<KubernetesObject> | undefined {
  if (!isRecord(v) || !Array.isArray(v.items)) return undefined;
  const items = (v.items as unknown[]).filter(isNamedObject);
  const rv = isRecord(v.metadata) ? v.metadata.resourceVersion : undefined;
  return typeof rv === "string" ? { items, metadata: { resourceVersion: rv } } : { items };
}

/** `namespace/name` of an object, `undefined` without a name. Cluster-scoped objects get an empty namespace. */
export function objectKey(v: unknown): string | undefined {
  if (!isNamedObject(v)) return undefined;
  const ns = v.metadata.namespace;
  return `${typeof ns === "string" ? ns : ""}/${v.metadata.name}`;
}

/** What discovery uses of a `ModelAdapter`. */
export interface AdapterInfo {
  readonly namespace: string;
  /** The adapter name: the model name requests use. */
  readonly name: string;
  /** Names of pods in `namespace` that hold it (`status.instances`), deduplicated; may be empty. */
  readonly instances: readonly string[];
}

/** Parse a `ModelAdapter` object; `undefined` without name or namespace. Non-string instances are skipped. */
export function adapterFromObject(v: unknown): AdapterInfo | undefined {
  if (!isNamedObject(v) || typeof v.metadata.namespace !== "string" || v.metadata.namespace === "")
    return undefined;
  const status = (v as { status?: unknown }).status;
  const raw = isRecord(status) && Array.isArray(status.instances) ? (status.instances as unknown[]) : [];
  const instances = [...new Set(raw.filter((i): i is string => typeof i === "string" && i !== ""))];
  return { namespace: v.metadata.namespace, name: v.metadata.name, instances };
}

/** Parse an `InferencePool` (v1): a usable spec, or the reason it is not usable. */
export function poolFromObject(v: unknown): { readonly spec: PoolSpec } | { readonly invalid: string } {
  const spec = isRecord(v) ? v.spec : undefined;
  if (!isRecord(spec)) return { invalid: "no spec" };
  const selector = spec.selector;
  const matchLabels = stringMap(isRecord(selector) ? selector.matchLabels : undefined);
  if (Object.keys(matchLabels).length === 0) return { invalid: "spec.selector.matchLabels is empty" };
  const raw = Array.isArray(spec.targetPorts) ? (spec.targetPorts as unknown[]) : [];
  const ports: number[] = [];
  for (const [i, entry] of raw.entries()) {
    const number = isRecord(entry) ? entry.number : undefined;
    const port = typeof number === "number" ? parsePort(String(number)) : undefined;
    if (port === undefined) return { invalid: `spec.targetPorts[${i}].number is not a port number` };
    if (ports.includes(port)) return { invalid: `spec.targetPorts[${i}].number ${port} is listed twice` };
    ports.push(port);
  }
  const [port] = ports;
  if (port === undefined) return { invalid: "spec.targetPorts[0].number is not a port number" };
  return { spec: { matchLabels, port, ports } };
}

/** The `message` of a Kubernetes `Status` body (object or JSON text), if there is one. */
function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  return isRecord(parsed) && typeof parsed.message === "string" ? parsed.message : undefined;
}

/**
 * Short, single-line, stable description of an error from the client: `HTTP <status>: <Status message>` for an
 * API error (never its headers, which change on every response), else the message and any error code.
 */
export function describeError(err: unknown): string {
  let text: string;
  if (isRecord(err) || err instanceof Error) {
    const e = err as { code?: unknown; statusCode?: unknown; message?: unknown; body?: unknown };
    const status =
      typeof e.statusCode === "number" ? e.statusCode : typeof e.code === "number" ? e.code : undefined;
    const message = typeof e.message === "string" ? e.message : String(err);
    if (status !== undefined) {
      const detail = statusMessage(e.body) ?? (typeof e.code === "number" ? undefined : message);
      text = detail === undefined ? `HTTP ${status}` : `HTTP ${status}: ${detail}`;
    } else {
      text = typeof e.code === "string" && !message.includes(e.code) ? `${message} (${e.code})` : message;
    }
  } else {
    text = String(err);
  }
  const line = text.replace(/\s+/g, " ").trim();
  return line.length > 300 ? `${line.slice(0, 297)}...` : line;
}

/** Whether an error from the client is an HTTP 404 (for a custom resource: its CRD is not installed). */
export function isNotFound(err: unknown): boolean {
  if (!isRecord(err) && !(err instanceof Error)) return false;
  const e = err as { code?: unknown; statusCode?: unknown };
  return e.code === 404 || e.statusCode === 404;
}
