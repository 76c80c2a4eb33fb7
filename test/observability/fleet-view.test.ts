/**
 * Observability names a pod's series without importing the cluster: its own `podLabelName` must stay the name the
 * cluster gives an endpoint (`endpointName`), for a whole pod and for one data-parallel rank of it, and the cluster
 * store must keep satisfying the fleet view the metrics read.
 */
import { endpointName } from "../../src/cluster";
import { createClusterStore } from "../../src/cluster/cluster-state";
import { podLabelName } from "../../src/observability/fleet-view";
import type { FleetView } from "../../src/observability/fleet-view";
import { pod } from "../extproc/harness";

describe("fleet view", () => {
  it("labels a pod and a rank of it as the cluster names the endpoint", () => {
    const whole = pod("a", "127.0.0.1", ["m"]);
    const rank = { ...whole, dataParallelRank: 3 };
    expect(podLabelName(whole)).toBe(endpointName(whole));
    expect(podLabelName(rank)).toBe(endpointName(rank));
    expect(podLabelName(rank)).toBe("a/rank-3");
  });

  it("reads the cluster store as a fleet view", () => {
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1", ["m"])]);
    const view: FleetView = cluster;
    const snap = view.snapshot();
    expect([...snap.pods.values()].map(podLabelName)).toEqual(["a"]);
    expect(snap.models.get("m")?.map((p) => p.ready)).toEqual([true]);
  });
});
