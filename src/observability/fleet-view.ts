/**
 * What the metrics read of the fleet at scrape time, as shapes of their own: observability is called by every area
 * and calls none, so it never imports the cluster's types. `ClusterStore` and `LoadTracker` satisfy these
 * structurally, and the wiring passes them in.
 *
 * @module
 */

/** A pod as its series label it. */
export interface FleetPod {
  /** The pod's name. */
  readonly name: string;
  /** The data-parallel rank of an endpoint that serves one rank of a pod; undefined for a whole pod. */
  readonly dataParallelRank?: number | undefined;
  readonly ready: boolean;
}

/** One consistent view of the fleet. */
export interface FleetSnapshot {
  /** Increases on every change; the pod label rebuilds its name set only when it moves. */
  readonly version: number;
  /** Every known pod by key. */
  readonly pods: ReadonlyMap<string, FleetPod>;
  /** Pods per model name. */
  readonly models: ReadonlyMap<string, readonly FleetPod[]>;
}

/** The fleet, read at scrape time. */
export interface FleetView {
  snapshot(): FleetSnapshot;
}

/** In-flight work per pod key, as kvroute itself tracks it. */
export interface LoadView {
  entries(): Iterable<[string, { readonly requests: number; readonly tokens: number }]>;
}

/**
 * The `pod` label value of a pod: its name, and `/rank-<n>` for one data-parallel rank of it. The same name the
 * cluster gives an endpoint (`endpointName` in `src/cluster/pod.ts`); a test holds the two equal.
 */
export function podLabelName(pod: Pick<FleetPod, "name" | "dataParallelRank">): string {
  return pod.dataParallelRank === undefined ? pod.name : `${pod.name}/rank-${pod.dataParallelRank}`;
}
