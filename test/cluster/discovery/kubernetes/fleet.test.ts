/**
 * The incremental discovery state on its own: which pods an event recomputes, and what a re-list reports.
 */
import type { KubernetesObject } from "@kubernetes/client-node";
import { createFleet } from "../../../../src/cluster/discovery/kubernetes/fleet";
import { podsFromObject } from "../../../../src/cluster/discovery/kubernetes/pod-mapping";
import type * as PodMapping from "../../../../src/cluster/discovery/kubernetes/pod-mapping";
import { adapterObject, podObject, poolObject } from "../../../support/kube-objects";

const M = "model.aibrix.ai/name";
const pods = (n: number): KubernetesObject[] =>
  Array.from({ length: n }, (_, i) =>
    podObject({ name: `p${i}`, ip: `10.0.${i >> 8}.${i & 255}`, labels: { [M]: "m" } }),
  );

// Count mapping calls: the fleet's per-event work.
jest.mock("../../../../src/cluster/discovery/kubernetes/pod-mapping", () => {
  const actual = jest.requireActual<typeof PodMapping>(
    "../../../../src/cluster/discovery/kubernetes/pod-mapping",
  );
  return { ...actual, podsFromObject: jest.fn(actual.podsFromObject) };
});
const spy = jest.mocked(podsFromObject);

it("recomputes only the pods an event touches", () => {
  const fleet = createFleet();
  fleet.replaceAll("pod", pods(1000));
  fleet.replaceAll("adapter", []);
  expect(fleet.collect(true)).toHaveLength(1000);

  spy.mockClear();
  fleet.upsert("pod", podObject({ name: "p7", ip: "10.9.9.9", labels: { [M]: "m" } }));
  expect(fleet.collect()?.find((p) => p.name === "p7")?.ip).toBe("10.9.9.9");
  expect(spy).toHaveBeenCalledTimes(1);

  spy.mockClear();
  fleet.upsert("adapter", adapterObject("lora", ["p1", "p2"]));
  expect(fleet.collect()?.filter((p) => p.adapters.includes("lora"))).toHaveLength(2);
  expect(spy).toHaveBeenCalledTimes(2);

  spy.mockClear();
  fleet.upsert("adapter", adapterObject("lora", ["p2", "p3"]));
  fleet.collect();
  // p1 loses it, p3 gains it, p2 is rechecked.
  expect(spy).toHaveBeenCalledTimes(3);
});

it("returns nothing when no routing pod changed, unless forced", () => {
  const fleet = createFleet();
  fleet.replaceAll("pod", [podObject({ name: "x", ip: "10.0.0.1", labels: { app: "redis" } })]);
  expect(fleet.collect()).toBeUndefined();
  expect(fleet.collect(true)).toEqual([]);
  fleet.upsert("pod", podObject({ name: "x", ip: "10.0.0.2", labels: { app: "redis" } }));
  expect(fleet.collect()).toBeUndefined();
});

it("reports objects a re-list no longer contains", () => {
  const fleet = createFleet();
  fleet.replaceAll("pod", pods(3));
  fleet.replaceAll("adapter", [adapterObject("a", ["p0"]), adapterObject("b", ["p1"])]);
  fleet.collect();
  expect(fleet.replaceAll("pod", pods(2))).toBe(1);
  expect(fleet.replaceAll("adapter", [adapterObject("b", ["p1"])])).toBe(1);
  expect(fleet.collect()?.map((p) => [p.name, p.adapters.join()])).toEqual([
    ["p0", ""],
    ["p1", "b"],
  ]);
  expect(fleet.adapterCount()).toBe(1);
});

it("InferencePool mode: no pods without the pool, all of them when it appears", () => {
  const fleet = createFleet({ poolName: "pool" });
  fleet.replaceAll("pod", [podObject({ name: "a", ip: "10.0.0.1", labels: { app: "v" } })]);
  fleet.replaceAll("pool", [poolObject("other", { app: "v" }, 8000)]);
  expect(fleet.collect(true)).toEqual([]);
  expect(fleet.poolProblem()).toBe("InferencePool pool not found");
  fleet.upsert("pool", poolObject("pool", { app: "v" }, 8000));
  expect(fleet.collect()?.map((p) => p.models)).toEqual([["*"]]);
  expect(fleet.poolProblem()).toBeUndefined();
  expect(fleet.replaceAll("pool", [])).toBe(1);
  expect(fleet.collect()).toEqual([]);
});
