/**
 * The fleet as one immutable snapshot, swapped whole when a discovery source reports a change. A routing decision
 * reads one snapshot from start to end, so it never sees a half-applied update.
 *
 * @module
 */
import type { Pod } from "./pod";

/** One consistent view of the fleet. */
export interface ClusterSnapshot {
  /** Increases by one on every replace. */
  readonly version: number;
  /** False until a discovery source has delivered its first complete state (readiness depends on it). */
  readonly loaded: boolean;
  /** Every known pod by key, ready or not. */
  readonly pods: ReadonlyMap<string, Pod>;
  /** Pods per model name (base model or adapter), ready or not, ordered by pod key. */
  readonly models: ReadonlyMap<string, readonly Pod[]>;
  /**
   * Pods that serve whatever model is asked for (InferencePool members without a model label), ordered by key.
   * Used only for models no pod names explicitly.
   */
  readonly anyModel: readonly Pod[];
}

/** The model name a pod carries when it serves any model (an InferencePool member without a model label). */
export const ANY_MODEL = "*";

/** Pods that may serve `model`: those naming it, else the any-model pods; `undefined` when there are none. */
export function podsForModel(snapshot: ClusterSnapshot, model: string): readonly Pod[] | undefined {
  const named = snapshot.models.get(model);
  if (named && named.length > 0) return named;
  return snapshot.anyModel.length > 0 ? snapshot.anyModel : undefined;
}

/**
 * The block-key context of a request for `model` served by `pods`: a LoRA adapter's blocks are cached apart from
 * its base model's, so a model that is an adapter on any of them keys its blocks in its own name; a base model in
 * `""`. One rule for the director and for a streamed prompt, whose keys must agree.
 */
export function promptContext(pods: readonly Pod[], model: string): string {
  return pods.some((p) => p.adapters.includes(model)) ? model : "";
}

/** Holds the current snapshot and tells listeners when it changes. */
export interface ClusterStore {
  /** The current snapshot. Cheap: no copy. */
  snapshot(): ClusterSnapshot;
  /** Replace the whole fleet (a discovery source's complete state). Marks the store loaded. */
  replace(pods: readonly Pod[]): void;
  /** Called after every replace with the new snapshot. Returns an unsubscribe function. */
  onChange(listener: (s: ClusterSnapshot) => void): () => void;
}

/** Build the model → pods index of a snapshot. */
function indexByModel(pods: ReadonlyMap<string, Pod>): Map<string, Pod[]> {
  const models = new Map<string, Pod[]>();
  for (const pod of pods.values()) {
    for (const m of pod.models) {
      if (m === ANY_MODEL) continue;
      let list = models.get(m);
      if (!list) models.set(m, (list = []));
      list.push(pod);
    }
  }
  for (const list of models.values()) list.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return models;
}

/** Create an empty, not-yet-loaded store. */
export function createClusterStore(): ClusterStore {
  let current: ClusterSnapshot = {
    version: 0,
    loaded: false,
    pods: new Map(),
    models: new Map(),
    anyModel: [],
  };
  const listeners = new Set<(s: ClusterSnapshot) => void>();
  return {
    snapshot: () => current,
    replace(pods) {
      const byKey = new Map<string, Pod>();
      for (const p of pods) byKey.set(p.key, p);
      const anyModel = [...byKey.values()]
        .filter((p) => p.models.includes(ANY_MODEL))
        .sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
      current = {
        version: current.version + 1,
        loaded: true,
        pods: byKey,
        models: indexByModel(byKey),
        anyModel,
      };
      for (const l of listeners) l(current);
    },
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
  };
}
