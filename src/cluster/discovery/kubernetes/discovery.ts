/**
 * Kubernetes discovery: Pods (AIBrix `model.aibrix.ai/*` labels, or the members of one InferencePool) and
 * ModelAdapters, kept in sync through the client's informers, published to the `ClusterStore` as whole-fleet
 * snapshots.
 *
 * The store is first replaced once every watched resource has been listed, so `loaded` (and readiness) means "we
 * know the fleet". After that each change is published on the next microtask, coalescing bursts (a list, a watch
 * chunk) into one replace, and only when some routing `Pod` actually changed. If the API server is unreachable,
 * the last known fleet stays in place while discovery retries with backoff (see `resource-watch.ts`).
 *
 * @module
 */
import { CoreV1Api, CustomObjectsApi, KubeConfig } from "@kubernetes/client-node";
import type { KubernetesObject } from "@kubernetes/client-node";
import type { ClusterStore } from "../../cluster-state";
import type { DiscoveryLog } from "../static-file";
import type { BackoffOptions } from "./backoff";
import { DEFAULT_BACKOFF } from "./backoff";
import type { ResourceKind } from "./fleet";
import { createFleet } from "./fleet";
import type { ResourceRef } from "./objects";
import { INFERENCE_POOLS, MODEL_ADAPTERS, PODS, resourcePath } from "./objects";
import type { ResourceWatch } from "./resource-watch";
import { startResourceWatch } from "./resource-watch";

export type { ResourceKind } from "./fleet";

/** Hooks for metrics and tests. Called synchronously; exceptions are logged and otherwise ignored. */
export interface DiscoveryObserver {
  /** An object was added, modified or deleted (also for the items of each list, and deletions a re-list finds). */
  onEvent?(kind: ResourceKind, type: "add" | "update" | "delete"): void;
  /** Listing or watching `kind` failed; discovery retries after a backoff. `reason` is one line, no secrets. */
  onError?(kind: ResourceKind, reason: string): void;
  /** `kind` was listed again after its first sync (after a fault or a `410 Gone`). */
  onRelist?(kind: ResourceKind): void;
  /** A pod's `model.aibrix.ai/config` annotation is malformed (once per pod and reason; also logged). */
  onBadModelConfig?(podKey: string): void;
  /** A pod's `model.aibrix.ai/data-parallel-size` label is unusable (once per pod and reason; also logged). */
  onBadDataParallelSize?(podKey: string): void;
}

/** Options of `startKubernetesDiscovery`. */
export interface KubernetesDiscoveryOptions {
  /** Where the API server is and how to authenticate (see `loadKubeConfig`). */
  readonly kubeConfig: KubeConfig;
  /** Watch only this namespace; all namespaces when absent. Required with `inferencePool`. */
  readonly namespace?: string | undefined;
  /** InferencePool mode: the pool (in `namespace`) whose selected pods are the fleet. */
  readonly inferencePool?: string | undefined;
  /** The pod label naming a pod's deployment (`--pod-deployment-label`); default `app.kubernetes.io/name`. */
  readonly deploymentLabel?: string | undefined;
  /** Receives the fleet. */
  readonly store: ClusterStore;
  readonly log: DiscoveryLog;
  readonly observer?: DiscoveryObserver | undefined;
  /** Reconnect backoff, ms. Default 200 doubling to 10 000, jittered ±20%. */
  readonly backoff?: BackoffOptions | undefined;
  /** Server-side timeout of each watch, s (the watch is then re-opened without a re-list). Default 300–600. */
  readonly watchTimeoutSeconds?: number | undefined;
  /**
   * A list, or a watch's response headers, not received within this counts as a failure (then retried), ms.
   * Default 60 000.
   */
  readonly requestTimeoutMs?: number | undefined;
}

/** What `status()` reports (for `/debug/state`). */
export interface KubernetesDiscoveryStatus {
  /** Every watched resource has been listed and the store holds the fleet. */
  readonly synced: boolean;
  /** Pods in the fleet, ready or not. */
  readonly pods: number;
  /** The latest unresolved failure, as `<kind>: <reason>`; absent when all watches are healthy. */
  readonly lastError?: string;
}

/** A running Kubernetes discovery. */
export interface KubernetesDiscovery {
  /**
   * Resolves after the first complete sync of every watched resource, once the store holds the fleet. Stays
   * pending while the API server is unreachable; rejects only if `close()` is called first (it never causes an
   * unhandled rejection when nobody awaits it).
   */
  readonly ready: Promise<void>;
  /** Stop watching and cancel retries. Idempotent. The store keeps its last fleet. */
  close(): Promise<void>;
  status(): KubernetesDiscoveryStatus;
}

/**
 * A KubeConfig from a kubeconfig file, or the in-cluster service account when `path` is undefined. The service
 * account token is read by the client on each request, so a missing token shows up as discovery errors, not here.
 *
 * @throws Error when the file cannot be read or parsed, it selects no cluster, or (in-cluster) the process is not
 *   running in a pod (`KUBERNETES_SERVICE_HOST`/`_PORT` unset).
 */
export function loadKubeConfig(path: string | undefined): KubeConfig {
  const kc = new KubeConfig();
  if (path === undefined) kc.loadFromCluster();
  else kc.loadFromFile(path);
  const server = kc.getCurrentCluster()?.server;
  if (server === undefined || server === "") {
    throw new Error(`kubeconfig ${path ?? "(in-cluster)"} selects no cluster`);
  }
  // The client builds `https://undefined:undefined` outside a pod instead of failing.
  if (path === undefined && /\/\/(undefined|\[undefined\]):/.test(server)) {
    throw new Error("not running in a Kubernetes pod (KUBERNETES_SERVICE_HOST unset); pass --kubeconfig");
  }
  return kc;
}

const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/**
 * Start Kubernetes discovery; see the module comment.
 *
 * @throws RangeError when `inferencePool` is set without `namespace`, or `backoff` is out of range; Error when
 *   `kubeConfig` selects no cluster.
 */
export function startKubernetesDiscovery(options: KubernetesDiscoveryOptions): KubernetesDiscovery {
  const { store, log, observer, namespace, inferencePool } = options;
  if (inferencePool !== undefined && namespace === undefined) {
    throw new RangeError(`InferencePool ${inferencePool}: a namespace is required in InferencePool mode`);
  }
  const backoff = options.backoff ?? DEFAULT_BACKOFF;
  const fleet = createFleet({
    poolName: inferencePool,
    deploymentLabel: options.deploymentLabel,
    onBadModelConfig: (pod, reason) => {
      log.error({ pod, reason }, "ignoring malformed model.aibrix.ai/config annotation");
      notify(() => observer?.onBadModelConfig?.(pod));
    },
    onBadDataParallelSize: (pod, reason) => {
      log.error({ pod, reason }, "ignoring unusable data-parallel-size label; the pod is one endpoint");
      notify(() => observer?.onBadDataParallelSize?.(pod));
    },
  });
  const kinds: ResourceKind[] = inferencePool === undefined ? ["pod", "adapter"] : ["pod", "adapter", "pool"];
  const synced = new Set<ResourceKind>();
  const errors = new Map<ResourceKind, string>();
  let loaded = false;
  let closed = false;
  let flushQueued = false;
  let reportedPoolProblem: string | undefined;
  const watches: ResourceWatch[] = [];

  let resolveReady!: () => void;
  let rejectReady!: (err: Error) => void;
  const ready = new Promise<void>((resolve, reject) => {
    resolveReady = resolve;
    rejectReady = reject;
  });
  ready.catch(() => undefined);

  const notify = (fn: () => void): void => {
    try {
      fn();
    } catch (err) {
      log.error({ error: messageOf(err) }, "kubernetes discovery observer failed");
    }
  };

  const flush = (): void => {
    flushQueued = false;
    if (closed || synced.size < kinds.length) return;
    const first = !loaded;
    try {
      const pods = fleet.collect(first);
      if (pods) store.replace(pods);
    } catch (err) {
      // A store listener threw; the store already holds the new snapshot.
      log.error({ error: messageOf(err) }, "publishing the kubernetes fleet failed");
    }
    const problem = fleet.poolProblem();
    if (problem !== reportedPoolProblem) {
      if (problem !== undefined) log.error({ inferencePool, namespace }, problem);
      else log.info({ inferencePool, namespace }, "InferencePool is usable");
      reportedPoolProblem = problem;
    }
    if (first) {
      loaded = true;
      log.info(
        {
          namespace: namespace ?? "(all)",
          inferencePool,
          pods: fleet.size(),
          adapters: fleet.adapterCount(),
        },
        "kubernetes discovery synced",
      );
      resolveReady();
    }
  };

  const changed = (): void => {
    if (flushQueued || closed) return;
    flushQueued = true;
    queueMicrotask(flush);
  };

  const listFor = (ref: ResourceRef): (() => Promise<unknown>) => {
    if (ref === PODS) {
      const core = options.kubeConfig.makeApiClient(CoreV1Api);
      return namespace === undefined
        ? () => core.listPodForAllNamespaces()
        : () => core.listNamespacedPod({ namespace });
    }
    const custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
    const req = { group: ref.group, version: ref.version, plural: ref.plural };
    return namespace === undefined
      ? (): Promise<unknown> => custom.listClusterCustomObject(req)
      : (): Promise<unknown> => custom.listNamespacedCustomObject({ ...req, namespace });
  };

  const watchKind = (kind: ResourceKind, ref: ResourceRef): ResourceWatch =>
    startResourceWatch({
      kubeConfig: options.kubeConfig,
      path: resourcePath(ref, namespace),
      list: listFor(ref),
      backoff,
      // Clusters without AIBrix (InferencePool mode) may not have the ModelAdapter CRD at all.
      absentOn404: kind === "adapter",
      watchTimeoutSeconds: options.watchTimeoutSeconds,
      requestTimeoutMs: options.requestTimeoutMs,
      handlers: {
        onList(items: readonly KubernetesObject[], relist: boolean) {
          const gone = fleet.replaceAll(kind, items);
          if (errors.delete(kind)) log.info({ kind }, "kubernetes watch recovered");
          synced.add(kind);
          if (relist) notify(() => observer?.onRelist?.(kind));
          for (let i = 0; i < gone; i++) notify(() => observer?.onEvent?.(kind, "delete"));
          changed();
        },
        onAbsent(reason: string) {
          if (!synced.has(kind)) {
            log.info(
              { kind, reason },
              "ModelAdapter resource not served (CRD not installed?); no LoRA adapters",
            );
          }
          fleet.replaceAll(kind, []);
          synced.add(kind);
          changed();
        },
        onUpsert(obj: KubernetesObject, type: "add" | "update") {
          fleet.upsert(kind, obj);
          notify(() => observer?.onEvent?.(kind, type));
          changed();
        },
        onDelete(obj: KubernetesObject) {
          fleet.remove(kind, obj);
          notify(() => observer?.onEvent?.(kind, "delete"));
          changed();
        },
        onError(reason: string, retryInMs: number) {
          if (errors.get(kind) === reason)
            log.debug?.({ kind, error: reason, retryInMs }, "kubernetes watch still failing");
          else log.error({ kind, error: reason, retryInMs }, "kubernetes watch failed; retrying");
          // Re-insert so the most recent failure is last.
          errors.delete(kind);
          errors.set(kind, reason);
          notify(() => observer?.onError?.(kind, reason));
        },
        onHandlerError(err: unknown) {
          log.error({ kind, error: messageOf(err) }, "kubernetes discovery failed to apply an event");
        },
      },
    });

  watches.push(watchKind("pod", PODS), watchKind("adapter", MODEL_ADAPTERS));
  if (inferencePool !== undefined) watches.push(watchKind("pool", INFERENCE_POOLS));

  return {
    ready,
    async close() {
      if (closed) return;
      closed = true;
      for (const w of watches) w.close();
      if (!loaded) rejectReady(new Error("kubernetes discovery closed before its first sync"));
    },
    status() {
      const last = [...errors].pop();
      const base = { synced: loaded, pods: fleet.size() };
      return last === undefined ? base : { ...base, lastError: `${last[0]}: ${last[1]}` };
    },
  };
}
