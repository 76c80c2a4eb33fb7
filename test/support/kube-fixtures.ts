/**
 * Builders for Kubernetes objects and an event-driven harness around `startKubernetesDiscovery` for tests that
 * run the real client against `fake-kube-api.ts`. Waits re-check their condition whenever the store, the observer
 * or the log reports something; timeouts are failure guards only.
 *
 * @module
 */
import type { ClusterSnapshot, ClusterStore } from "../../src/cluster/cluster-state";
import { createClusterStore } from "../../src/cluster/cluster-state";
import type {
  DiscoveryObserver,
  KubernetesDiscovery,
  KubernetesDiscoveryOptions,
  ResourceKind,
} from "../../src/cluster/discovery/kubernetes";
import { startKubernetesDiscovery } from "../../src/cluster/discovery/kubernetes";
import type { DiscoveryLog } from "../../src/cluster/discovery/static-file";
import type { Pod } from "../../src/cluster/pod";
import type { FakeKubeApi, FakeObject } from "./fake-kube-api";

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

/** One recorded log call. */
export interface LogLine {
  readonly level: "info" | "error" | "debug";
  readonly obj: object;
  readonly msg: string;
}

/** A discovery under test, with everything it reported. */
export interface Harness {
  readonly store: ClusterStore;
  readonly discovery: KubernetesDiscovery;
  readonly logs: LogLine[];
  readonly events: string[];
  readonly errors: string[];
  readonly relists: ResourceKind[];
  /** Store replaces so far. */
  replaces(): number;
  /** Resolves once `predicate` holds (checked now and after every store change, observer call or log line). */
  until(predicate: () => boolean, what: string, timeoutMs?: number): Promise<void>;
  /** Resolves once the snapshot satisfies `predicate`. */
  untilSnapshot(predicate: (s: ClusterSnapshot) => boolean, what: string): Promise<ClusterSnapshot>;
  /** A pod of the current snapshot by key. */
  pod(key: string): Pod | undefined;
  /** Whether `ready` has resolved (false while pending or rejected). */
  isReady(): boolean;
}

/** Start discovery against `fake` with fast backoff and a recording log and observer. */
export function startHarness(
  fake: FakeKubeApi,
  opts: Partial<Omit<KubernetesDiscoveryOptions, "store" | "log" | "observer">> = {},
): Harness {
  const store = createClusterStore();
  const logs: LogLine[] = [];
  const events: string[] = [];
  const errors: string[] = [];
  const relists: ResourceKind[] = [];
  const waiters = new Set<() => boolean>();
  const poke = (): void => {
    for (const w of waiters) if (w()) waiters.delete(w);
  };
  let replaces = 0;
  store.onChange(() => {
    replaces += 1;
    poke();
  });
  const log: Required<DiscoveryLog> = {
    info: (obj, msg) => (logs.push({ level: "info", obj, msg }), poke()),
    error: (obj, msg) => (logs.push({ level: "error", obj, msg }), poke()),
    debug: (obj, msg) => (logs.push({ level: "debug", obj, msg }), poke()),
  };
  const observer: DiscoveryObserver = {
    onEvent: (kind, type) => (events.push(`${kind}:${type}`), poke()),
    onError: (kind, reason) => (errors.push(`${kind}: ${reason}`), poke()),
    onRelist: (kind) => (relists.push(kind), poke()),
    onBadDataParallelSize: (pod) => (errors.push(`pod: bad data-parallel-size on ${pod}`), poke()),
  };
  const discovery = startKubernetesDiscovery({
    kubeConfig: fake.kubeConfig(),
    backoff: { initialMs: 10, maxMs: 100 },
    ...opts,
    store,
    log,
    observer,
  });
  let ready = false;
  discovery.ready.then(
    () => {
      ready = true;
      poke();
    },
    () => undefined,
  );
  const until = (predicate: () => boolean, what: string, timeoutMs = 5000): Promise<void> => {
    if (predicate()) return Promise.resolve();
    return new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        waiters.delete(check);
        const s = store.snapshot();
        reject(
          new Error(
            `timed out waiting for ${what}; pods: ${[...s.pods.keys()].join(",")}; errors: ${errors.join(" | ")}`,
          ),
        );
      }, timeoutMs);
      const check = (): boolean => {
        if (!predicate()) return false;
        clearTimeout(timer);
        resolve();
        return true;
      };
      waiters.add(check);
    });
  };
  return {
    store,
    discovery,
    logs,
    events,
    errors,
    relists,
    replaces: () => replaces,
    until,
    async untilSnapshot(predicate, what) {
      await until(() => predicate(store.snapshot()), what);
      return store.snapshot();
    },
    pod: (key) => store.snapshot().pods.get(key),
    isReady: () => ready,
  };
}
