/**
 * The `pod` label of kvroute's per-pod series. Only pods in the current fleet get a series of their own, and only
 * up to a bound: a name that is not (or no longer) a pod of the cluster store becomes `departed` (a scrape or a KV
 * event that lands after its pod left), names beyond the bound become `other`. Departed names give their slot back,
 * so pod churn over days does not fill the bound with pods long gone.
 *
 * @module
 */
import type { FleetView } from "./fleet-view";
import { podLabelName } from "./fleet-view";
import type { LabelLimiter } from "./label-limiter";

/** Label value for a pod that is not in the cluster store (any more). */
export const DEPARTED_POD_LABEL = "departed";
/** Label value for pods beyond the bound (as `createLabelLimiter`). */
export const OTHER_POD_LABEL = "other";

/** Pod label values: admit a pod name, and tell which names are current pods. */
export interface PodLabel extends LabelLimiter {
  /** Whether `name` is the name of a pod in the current snapshot. */
  isCurrent(name: string): boolean;
}

/** Create the pod label over `cluster`, with at most `max` (≥ 1) distinct pod names at a time. */
export function createPodLabel(cluster: FleetView, max: number): PodLabel {
  const admitted = new Set<string>();
  // Names of the current snapshot, rebuilt once per snapshot version (not per call).
  let version = -1;
  let names = new Set<string>();
  const current = (): ReadonlySet<string> => {
    const snap = cluster.snapshot();
    if (snap.version !== version) {
      version = snap.version;
      names = new Set([...snap.pods.values()].map(podLabelName));
    }
    return names;
  };
  return {
    isCurrent: (name) => current().has(name),
    admit(name) {
      const live = current();
      if (!live.has(name)) return DEPARTED_POD_LABEL;
      if (admitted.has(name)) return name;
      if (admitted.size >= max) {
        for (const n of admitted) if (!live.has(n)) admitted.delete(n);
        if (admitted.size >= max) return OTHER_POD_LABEL;
      }
      admitted.add(name);
      return name;
    },
    get size() {
      return admitted.size;
    },
  };
}
