/**
 * The objects discovery has seen (Pods, ModelAdapters, the InferencePool) and the routing `Pod`s derived from
 * them, updated incrementally: an event recomputes only the pods it can affect, found through an index of adapters
 * by pod, so the work per event is proportional to what it touches, not to the fleet.
 *
 * No I/O and no timers: the discovery source feeds it and decides when to publish.
 *
 * @module
 */
import type { KubernetesObject, V1Pod } from "@kubernetes/client-node";
import type { Pod } from "../../pod";
import type { AdapterInfo } from "./objects";
import { adapterFromObject, objectKey, poolFromObject } from "./objects";
import type { PoolSpec } from "./pod-mapping";
import { podsFromObject, samePod } from "./pod-mapping";

/** The kinds of object discovery watches. */
export type ResourceKind = "pod" | "adapter" | "pool";

/** Options of `createFleet`. */
export interface FleetOptions {
  /** InferencePool mode: the pool's name (its namespace is the one watched). Absent: AIBrix label mode. */
  readonly poolName?: string | undefined;
  /** The pod label naming a pod's deployment (`--pod-deployment-label`); default `app.kubernetes.io/name`. */
  readonly deploymentLabel?: string | undefined;
  /**
   * A pod's `model.aibrix.ai/config` annotation is malformed (the pod is routed without a config). Called once per
   * pod and distinct reason, not on every update of the pod, so a bad annotation is logged once.
   */
  readonly onBadModelConfig?: ((podKey: string, reason: string) => void) | undefined;
  /**
   * A pod's `model.aibrix.ai/data-parallel-size` label is not a usable rank count (the pod is routed as one
   * endpoint). Called once per pod and distinct reason, as `onBadModelConfig`.
   */
  readonly onBadDataParallelSize?: ((podKey: string, reason: string) => void) | undefined;
}

/** Mutable discovery state; see the module comment. */
export interface Fleet {
  /**
   * Replace every object of `kind` with a complete list (a list or re-list).
   * @returns how many previously known objects are no longer there.
   */
  replaceAll(kind: ResourceKind, objects: readonly KubernetesObject[]): number;
  /** An object was added or modified. */
  upsert(kind: ResourceKind, obj: KubernetesObject): void;
  /** An object was deleted. Unknown objects are ignored. */
  remove(kind: ResourceKind, obj: KubernetesObject): void;
  /**
   * Recompute the pods touched since the last call. Returns the whole fleet when any pod changed (or when
   * `force`), else `undefined`.
   */
  collect(force?: boolean): Pod[] | undefined;
  /** Endpoints in the fleet (as of the last `collect`), ready or not: one per data-parallel rank of a pod. */
  size(): number;
  /** Number of ModelAdapter objects known. */
  adapterCount(): number;
  /** InferencePool mode: why there are no pods (pool missing or unusable); `undefined` when it is usable. */
  poolProblem(): string | undefined;
}

const sameSpec = (a: PoolSpec | undefined, b: PoolSpec | undefined): boolean => {
  if (a === undefined || b === undefined) return a === b;
  const ka = Object.keys(a.matchLabels);
  return (
    a.ports.length === b.ports.length &&
    a.ports.every((p, i) => p === b.ports[i]) &&
    ka.length === Object.keys(b.matchLabels).length &&
    ka.every((k) => a.matchLabels[k] === b.matchLabels[k])
  );
};

/** Create empty discovery state. */
export function createFleet(opts: FleetOptions = {}): Fleet {
  const poolMode = opts.poolName !== undefined;
  const rawPods = new Map<string, V1Pod>();
  /** Kubernetes pod key → its endpoints (one per data-parallel rank). */
  const pods = new Map<string, readonly Pod[]>();
  let endpointCount = 0;
  const adapters = new Map<string, AdapterInfo>();
  /** Pod key → names of the adapters whose `status.instances` list it. */
  const adaptersByPod = new Map<string, Set<string>>();
  let pool: PoolSpec | undefined;
  let poolProblem: string | undefined = poolMode ? `InferencePool ${opts.poolName} not found` : undefined;
  const dirty = new Set<string>();
  let allDirty = false;
  /** Pod key → the malformed-config reason already reported for it. */
  const badConfigs = new Map<string, string>();
  /** Pod key → the bad data-parallel-size reason already reported for it. */
  const badSizes = new Map<string, string>();

  const indexAdapter = (a: AdapterInfo, add: boolean): void => {
    for (const instance of a.instances) {
      const podKey = `${a.namespace}/${instance}`;
      dirty.add(podKey);
      let names = adaptersByPod.get(podKey);
      if (add) {
        if (!names) adaptersByPod.set(podKey, (names = new Set()));
        names.add(a.name);
      } else if (names) {
        names.delete(a.name);
        if (names.size === 0) adaptersByPod.delete(podKey);
      }
    }
  };

  const setAdapter = (key: string, next: AdapterInfo | undefined): void => {
    const prev = adapters.get(key);
    if (prev) indexAdapter(prev, false);
    if (next) {
      adapters.set(key, next);
      indexAdapter(next, true);
    } else {
      adapters.delete(key);
    }
  };

  const setPool = (obj: KubernetesObject | undefined): void => {
    let next: PoolSpec | undefined;
    if (obj === undefined) {
      poolProblem = `InferencePool ${opts.poolName} not found`;
    } else {
      const parsed = poolFromObject(obj);
      if ("spec" in parsed) {
        next = parsed.spec;
        poolProblem = undefined;
      } else {
        poolProblem = `InferencePool ${opts.poolName} is unusable: ${parsed.invalid}`;
      }
    }
    if (!sameSpec(pool, next)) allDirty = true;
    pool = next;
  };

  const isOurPool = (obj: KubernetesObject): boolean => poolMode && obj.metadata?.name === opts.poolName;

  const upsert = (kind: ResourceKind, obj: KubernetesObject): void => {
    const key = objectKey(obj);
    if (key === undefined) return;
    switch (kind) {
      case "pod":
        if (rawPods.get(key) === obj) return;
        rawPods.set(key, obj as V1Pod);
        dirty.add(key);
        return;
      case "adapter":
        setAdapter(key, adapterFromObject(obj));
        return;
      case "pool":
        if (isOurPool(obj)) setPool(obj);
        return;
    }
  };

  const remove = (kind: ResourceKind, obj: KubernetesObject): void => {
    const key = objectKey(obj);
    if (key === undefined) return;
    switch (kind) {
      case "pod":
        if (rawPods.delete(key)) dirty.add(key);
        return;
      case "adapter":
        if (adapters.has(key)) setAdapter(key, undefined);
        return;
      case "pool":
        if (isOurPool(obj)) setPool(undefined);
        return;
    }
  };

  /** Report `reason` (or its absence) for `key` once per distinct reason. */
  const reportOnce = (
    seen: Map<string, string>,
    key: string,
    reason: string | undefined,
    report: ((podKey: string, reason: string) => void) | undefined,
  ): void => {
    if (reason === undefined) seen.delete(key);
    else if (seen.get(key) !== reason) {
      seen.set(key, reason);
      report?.(key, reason);
    }
  };

  const mapPod = (key: string): Pod[] => {
    const raw = rawPods.get(key);
    if (raw === undefined || (poolMode && pool === undefined)) return [];
    const names = adaptersByPod.get(key);
    let bad: string | undefined;
    let badSize: string | undefined;
    const mapped = podsFromObject(
      raw,
      names ? [...names] : [],
      pool,
      (reason) => (bad = reason),
      (reason) => (badSize = reason),
      opts.deploymentLabel,
    );
    reportOnce(badConfigs, key, bad, opts.onBadModelConfig);
    reportOnce(badSizes, key, badSize, opts.onBadDataParallelSize);
    return mapped;
  };

  const sameEndpoints = (a: readonly Pod[], b: readonly Pod[]): boolean =>
    a.length === b.length && a.every((p, i) => samePod(p, b[i] as Pod));

  return {
    replaceAll(kind, objects) {
      let gone = 0;
      switch (kind) {
        case "pod": {
          const next = new Map<string, V1Pod>();
          for (const o of objects) {
            const key = objectKey(o);
            if (key !== undefined) next.set(key, o as V1Pod);
          }
          for (const key of rawPods.keys()) if (!next.has(key)) gone += 1;
          rawPods.clear();
          for (const [k, v] of next) rawPods.set(k, v);
          allDirty = true;
          break;
        }
        case "adapter": {
          const keys = new Set<string>();
          for (const o of objects) {
            const key = objectKey(o);
            if (key !== undefined) keys.add(key);
          }
          for (const key of [...adapters.keys()]) {
            if (!keys.has(key)) {
              setAdapter(key, undefined);
              gone += 1;
            }
          }
          for (const o of objects) upsert("adapter", o);
          break;
        }
        case "pool": {
          const ours = poolMode ? objects.find(isOurPool) : undefined;
          if (pool !== undefined && ours === undefined) gone = 1;
          if (poolMode) setPool(ours);
          break;
        }
      }
      return gone;
    },
    upsert,
    remove,
    collect(force = false) {
      const keys = allDirty ? new Set([...rawPods.keys(), ...pods.keys()]) : dirty;
      let changed = false;
      for (const key of keys) {
        const next = mapPod(key);
        const prev = pods.get(key) ?? [];
        if (next.length === 0) {
          badConfigs.delete(key);
          badSizes.delete(key);
          if (prev.length > 0) {
            pods.delete(key);
            endpointCount -= prev.length;
            changed = true;
          }
        } else if (!sameEndpoints(prev, next)) {
          pods.set(key, next);
          endpointCount += next.length - prev.length;
          changed = true;
        }
      }
      dirty.clear();
      allDirty = false;
      return changed || force ? [...pods.values()].flat() : undefined;
    },
    size: () => endpointCount,
    adapterCount: () => adapters.size,
    poolProblem: () => poolProblem,
  };
}
