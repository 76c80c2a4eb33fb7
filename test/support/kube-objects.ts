/**
 * Builders for the Kubernetes objects the discovery tests serve (Pods, ModelAdapters, InferencePools), apart from
 * the discovery harness in `kube-fixtures.ts`: a test that only maps objects then does not load
 * `@kubernetes/client-node` (~0.5 s of CPU per test file, several seconds when jest's transform cache is cold).
 *
 * @module
 */
import type { FakeObject } from "./fake-kube-api";

/** Options of `podObject`. */
export interface PodSpec {
  readonly name: string;
  readonly namespace?: string;
  /** Pod IP; absent = not yet assigned. */
  readonly ip?: string;
  /** Ready condition; default true. */
  readonly ready?: boolean;
  readonly labels?: Record<string, string>;
  readonly annotations?: Record<string, string>;
  /** Set `metadata.deletionTimestamp` (terminating). */
  readonly terminating?: boolean;
  /** `metadata.ownerReferences` (kind and name; `controller` defaults to true). */
  readonly owners?: readonly { kind: string; name: string; controller?: boolean }[];
}

/** A Pod object as the API server would return it. */
export function podObject(p: PodSpec): FakeObject {
  return {
    kind: "Pod",
    metadata: {
      name: p.name,
      namespace: p.namespace ?? "default",
      labels: p.labels ?? {},
      ...(p.annotations ? { annotations: p.annotations } : {}),
      ...(p.terminating ? { deletionTimestamp: "2026-01-01T00:00:00Z" } : {}),
      ...(p.owners
        ? {
            ownerReferences: p.owners.map((o) => ({
              apiVersion: o.kind === "ReplicaSet" || o.kind === "StatefulSet" ? "apps/v1" : "v1",
              kind: o.kind,
              name: o.name,
              uid: `uid-${o.name}`,
              controller: o.controller ?? true,
            })),
          }
        : {}),
    },
    spec: { containers: [{ name: "engine", image: "vllm/vllm-openai" }] },
    status: {
      phase: "Running",
      ...(p.ip !== undefined ? { podIP: p.ip } : {}),
      conditions: [{ type: "Ready", status: (p.ready ?? true) ? "True" : "False" }],
    },
  };
}

/** A ModelAdapter object with `status.instances`. */
export function adapterObject(name: string, instances: string[], namespace = "default"): FakeObject {
  return {
    kind: "ModelAdapter",
    metadata: { name, namespace },
    spec: { baseModel: "base" },
    status: { instances },
  };
}

/** An InferencePool (v1) object; several ports: one data-parallel rank per port. */
export function poolObject(
  name: string,
  matchLabels: Record<string, string>,
  port: number | readonly number[],
  namespace = "default",
): FakeObject {
  const targetPorts = (typeof port === "number" ? [port] : port).map((number) => ({ number }));
  return {
    kind: "InferencePool",
    metadata: { name, namespace },
    spec: { selector: { matchLabels }, targetPorts, endpointPickerRef: { name: "epp" } },
  };
}
