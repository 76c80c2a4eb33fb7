/**
 * podFromObject: the fields config profiles and GPU profiles read (deployment from labels and owner references,
 * the model config annotation) and how a malformed annotation is reported.
 */
import type { V1Pod } from "@kubernetes/client-node";
import { createFleet } from "../../../../src/cluster/discovery/kubernetes/fleet";
import { podFromObject, samePod } from "../../../../src/cluster/discovery/kubernetes/pod-mapping";
import { podObject } from "../../../support/kube-objects";

const M = "model.aibrix.ai/name";
const v1 = (p: Parameters<typeof podObject>[0]): V1Pod => podObject(p) as V1Pod;

describe("podFromObject: deployment and model config", () => {
  const base = { name: "a", ip: "10.0.0.1" };
  const rs = (name: string, hash?: string): V1Pod =>
    v1({
      ...base,
      labels: { [M]: "m", ...(hash ? { "pod-template-hash": hash } : {}) },
      owners: [{ kind: "ReplicaSet", name }],
    });
  it.each<[string, V1Pod, string | undefined]>([
    [
      "app.kubernetes.io/name label",
      v1({ ...base, labels: { [M]: "m", "app.kubernetes.io/name": "llama-h100" } }),
      "llama-h100",
    ],
    [
      "the label wins over the owner",
      v1({
        ...base,
        labels: { [M]: "m", "app.kubernetes.io/name": "x" },
        owners: [{ kind: "ReplicaSet", name: "y-abc" }],
      }),
      "x",
    ],
    [
      "RayClusterFleet label first",
      v1({
        ...base,
        labels: {
          [M]: "m",
          "app.kubernetes.io/name": "x",
          "orchestration.aibrix.ai/raycluster-fleet-name": "fleet",
        },
      }),
      "fleet",
    ],
    ["ReplicaSet minus its pod-template-hash", rs("llama-7b-v2-5d4f9c8b7", "5d4f9c8b7"), "llama-7b-v2"],
    ["ReplicaSet without the hash label: last word dropped", rs("llama-7b-5d4f9c8b7"), "llama-7b"],
    ["ReplicaSet whose name has no suffix", rs("plain"), "plain"],
    [
      "StatefulSet owner: its name",
      v1({ ...base, labels: { [M]: "m" }, owners: [{ kind: "StatefulSet", name: "llama-sts" }] }),
      "llama-sts",
    ],
    [
      "RayCluster owner: two suffixes dropped",
      v1({ ...base, labels: { [M]: "m" }, owners: [{ kind: "RayCluster", name: "fleet-abc12-xyz" }] }),
      "fleet",
    ],
    [
      "the controller owner wins",
      v1({
        ...base,
        labels: { [M]: "m" },
        owners: [
          { kind: "ConfigMap", name: "cm", controller: false },
          { kind: "StatefulSet", name: "sts" },
        ],
      }),
      "sts",
    ],
    ["no label, no owner", v1({ ...base, labels: { [M]: "m" } }), undefined],
  ])("deployment: %s", (_name, obj, expected) => {
    expect(podFromObject(obj)?.deployment).toBe(expected);
  });

  it("deployment: a configured label (--pod-deployment-label) replaces app.kubernetes.io/name", () => {
    const labels = { [M]: "m", "app.kubernetes.io/name": "vllm", team: "llama-h100" };
    const owned = v1({ ...base, labels, owners: [{ kind: "ReplicaSet", name: "llama-a100-5d4f9c8b7" }] });
    expect(podFromObject(owned, [], undefined, undefined, "team")?.deployment).toBe("llama-h100");
    // Without the configured label the owner decides; app.kubernetes.io/name is no longer read.
    const { team: _, ...withoutTeam } = labels;
    const unlabelled = v1({
      ...base,
      labels: withoutTeam,
      owners: [{ kind: "ReplicaSet", name: "llama-a100-5d4f9c8b7" }],
    });
    expect(podFromObject(unlabelled, [], undefined, undefined, "team")?.deployment).toBe("llama-a100");
    // Discovery's fleet passes the setting down.
    const fleet = createFleet({ deploymentLabel: "team" });
    fleet.upsert("pod", owned);
    expect(fleet.collect()?.map((p) => p.deployment)).toEqual(["llama-h100"]);
  });

  const CONFIG = "model.aibrix.ai/config";
  const withConfig = (text: string): V1Pod =>
    v1({ ...base, labels: { [M]: "m" }, annotations: { [CONFIG]: text } });
  it.each<[string, string, object | undefined, string | undefined]>([
    [
      "a valid config",
      '{"defaultProfile":"p","profiles":{"p":{"routingStrategy":"random","requestsPerSecond":5}}}',
      { defaultProfile: "p", profiles: { p: { routingStrategy: "random", requestsPerSecond: 5 } } },
      undefined,
    ],
    ["blank: no config, no complaint", "  ", undefined, undefined],
    ["not JSON", "{profiles:", undefined, "not JSON"],
    ["no profiles", '{"profiles":{}}', undefined, "at least one profile"],
    [
      "a negative requestsPerSecond",
      '{"profiles":{"p":{"requestsPerSecond":-1}}}',
      undefined,
      "profiles.p.requestsPerSecond",
    ],
  ])("model config: %s", (_name, text, expected, complaint) => {
    const reasons: string[] = [];
    const pod = podFromObject(withConfig(text), [], undefined, (r) => reasons.push(r));
    expect(pod).toBeDefined();
    if (expected === undefined) expect(pod?.modelConfig).toBeUndefined();
    else expect(pod?.modelConfig).toMatchObject(expected);
    if (complaint === undefined) expect(reasons).toEqual([]);
    else expect(reasons).toEqual([expect.stringContaining(complaint)]);
  });

  it("samePod sees a changed config and a changed deployment", () => {
    const a = podFromObject(withConfig('{"profiles":{"default":{"routingStrategy":"random"}}}'))!;
    const b = podFromObject(withConfig('{"profiles":{"default":{"routingStrategy":"least-request"}}}'))!;
    expect(
      samePod(a, podFromObject(withConfig('{"profiles":{"default":{"routingStrategy":"random"}}}'))!),
    ).toBe(true);
    expect(samePod(a, b)).toBe(false);
    expect(samePod(a, { ...a, deployment: "other" })).toBe(false);
  });
});

describe("fleet: a malformed model config is reported once per pod and reason", () => {
  it("reports on first sight, not on unrelated updates, again when the reason changes", () => {
    const reports: [string, string][] = [];
    const fleet = createFleet({ onBadModelConfig: (pod, reason) => reports.push([pod, reason]) });
    const obj = (ip: string, text: string) =>
      podObject({ name: "a", ip, labels: { [M]: "m" }, annotations: { "model.aibrix.ai/config": text } });
    fleet.upsert("pod", obj("10.0.0.1", "{"));
    expect(fleet.collect()?.[0]?.modelConfig).toBeUndefined();
    fleet.upsert("pod", obj("10.0.0.2", "{"));
    fleet.collect();
    expect(reports).toEqual([["default/a", expect.stringContaining("not JSON")]]);
    fleet.upsert("pod", obj("10.0.0.2", '{"profiles":{}}'));
    fleet.collect();
    expect(reports).toHaveLength(2);
    fleet.upsert("pod", obj("10.0.0.2", '{"profiles":{"default":{}}}'));
    expect(fleet.collect()?.[0]?.modelConfig).toEqual({ profiles: { default: {} } });
    expect(reports).toHaveLength(2);
  });
});
