/**
 * An event-driven harness around `startKubernetesDiscovery` for tests that run the real client against
 * `fake-kube-api.ts`, and the object builders of `kube-objects.ts` again. Waits re-check their condition whenever
 * the store, the observer or the log reports something; timeouts are failure guards only.
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
import type { FakeKubeApi } from "./fake-kube-api";

export type { PodSpec } from "./kube-objects";
export { adapterObject, podObject, poolObject } from "./kube-objects";

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
