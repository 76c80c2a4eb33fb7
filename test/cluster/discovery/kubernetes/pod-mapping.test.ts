import type { V1Pod } from "@kubernetes/client-node";
import {
  adapterFromObject,
  asObjectList,
  describeError,
  isNotFound,
  poolFromObject,
  resourcePath,
  INFERENCE_POOLS,
  MODEL_ADAPTERS,
  PODS,
} from "../../../../src/cluster/discovery/kubernetes/objects";
import type { PoolSpec } from "../../../../src/cluster/discovery/kubernetes/pod-mapping";
import {
  isIgnoredPod,
  matchesSelector,
  parsePort,
  podFromObject,
  samePod,
} from "../../../../src/cluster/discovery/kubernetes/pod-mapping";
import { createBackoff } from "../../../../src/cluster/discovery/kubernetes/backoff";
import { podObject } from "../../../support/kube-objects";

const M = "model.aibrix.ai/name";
const v1 = (p: Parameters<typeof podObject>[0]): V1Pod => podObject(p) as V1Pod;

describe("podFromObject (AIBrix label mode)", () => {
  it.each<[string, V1Pod, Partial<ReturnType<typeof podFromObject>> | undefined]>([
    [
      "ready labelled pod with port, metric port and engine",
      v1({
        name: "a",
        ip: "10.0.0.1",
        labels: {
          [M]: "llama",
          "model.aibrix.ai/port": "9000",
          "model.aibrix.ai/metric-port": "9100",
          "model.aibrix.ai/engine": "sglang",
        },
      }),
      {
        key: "default/a",
        ip: "10.0.0.1",
        port: 9000,
        address: "10.0.0.1:9000",
        metricsPort: 9100,
        engine: "sglang",
        models: ["llama"],
        ready: true,
      },
    ],
    [
      "defaults: port 8000, metrics port = serving port, engine vllm",
      v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "llama" } }),
      { port: 8000, metricsPort: 8000, engine: "vllm", address: "10.0.0.1:8000" },
    ],
    [
      "metrics port defaults to a custom serving port",
      v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "llama", "model.aibrix.ai/port": "9000" } }),
      { port: 9000, metricsPort: 9000 },
    ],
    [
      "model named by annotation (a name with / is no valid label value)",
      v1({ name: "a", ip: "10.0.0.1", annotations: { [M]: "meta-llama/Llama-3-8B" } }),
      { models: ["meta-llama/Llama-3-8B"], ready: true },
    ],
    [
      "the label wins over the annotation",
      v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "label" }, annotations: { [M]: "anno" } }),
      { models: ["label"] },
    ],
    [
      "invalid port labels fall back (AIBrix parity)",
      v1({
        name: "a",
        ip: "10.0.0.1",
        labels: { [M]: "m", "model.aibrix.ai/port": "http", "model.aibrix.ai/metric-port": "70000" },
      }),
      { port: 8000, metricsPort: 8000 },
    ],
    [
      "IPv6 address in brackets",
      v1({ name: "a", ip: "fd00::1", labels: { [M]: "m" } }),
      { address: "[fd00::1]:8000" },
    ],
    [
      "not Ready: kept, not routable",
      v1({ name: "a", ip: "10.0.0.1", ready: false, labels: { [M]: "m" } }),
      { ready: false },
    ],
    [
      "no IP: kept without an address",
      v1({ name: "a", labels: { [M]: "m" } }),
      { ready: false, ip: "", address: "" },
    ],
    [
      "terminating: kept, not routable",
      v1({ name: "a", ip: "10.0.0.1", terminating: true, labels: { [M]: "m" } }),
      { ready: false },
    ],
    ["no model label or annotation", v1({ name: "a", ip: "10.0.0.1", labels: { app: "x" } }), undefined],
    ["empty model label", v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "" } }), undefined],
    [
      "Ray worker",
      v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m", "ray.io/node-type": "worker" } }),
      undefined,
    ],
    [
      "Ray head is kept",
      v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m", "ray.io/node-type": "head" } }),
      { ready: true },
    ],
    [
      "StormService group index 1",
      v1({
        name: "a",
        ip: "10.0.0.1",
        labels: { [M]: "m", "stormservice.orchestration.aibrix.ai/pod-group-index": "1" },
      }),
      undefined,
    ],
    [
      "StormService group index 0 is kept",
      v1({
        name: "a",
        ip: "10.0.0.1",
        labels: { [M]: "m", "stormservice.orchestration.aibrix.ai/pod-group-index": "0" },
      }),
      { ready: true },
    ],
  ])("%s", (_name, obj, expected) => {
    const pod = podFromObject(obj);
    if (expected === undefined) expect(pod).toBeUndefined();
    else expect(pod).toMatchObject(expected);
  });

  it("adds adapters to models and adapters, sorted and deduplicated", () => {
    const pod = podFromObject(v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m" } }), [
      "z-lora",
      "a-lora",
      "z-lora",
    ]);
    expect(pod?.models).toEqual(["a-lora", "m", "z-lora"]);
    expect(pod?.adapters).toEqual(["a-lora", "z-lora"]);
  });

  it("copies labels and ignores non-string label values", () => {
    const obj = v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m", app: "x" } });
    (obj.metadata!.labels as Record<string, unknown>)["odd"] = 5;
    const pod = podFromObject(obj);
    expect(pod?.labels).toEqual({ [M]: "m", app: "x" });
    expect(pod?.labels).not.toBe(obj.metadata!.labels);
  });

  it("treats a Date deletionTimestamp (a deserialised list item) as terminating", () => {
    const obj = v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m" } });
    obj.metadata!.deletionTimestamp = new Date();
    expect(podFromObject(obj)?.ready).toBe(false);
  });

  it.each([
    ["no metadata", { status: {} }],
    ["no namespace", { metadata: { name: "a", labels: { [M]: "m" } } }],
    ["no name", { metadata: { namespace: "d", labels: { [M]: "m" } } }],
  ])("rejects an object with %s", (_n, obj) => {
    expect(podFromObject(obj as V1Pod)).toBeUndefined();
  });
});

describe("podFromObject (InferencePool mode)", () => {
  const pool: PoolSpec = { matchLabels: { app: "vllm" }, port: 8200, ports: [8200] };
  it.each<[string, V1Pod, Partial<ReturnType<typeof podFromObject>> | undefined]>([
    [
      "selected, no model label: any model",
      v1({ name: "a", ip: "10.0.0.1", labels: { app: "vllm" } }),
      { models: ["*"], port: 8200, metricsPort: 8200 },
    ],
    [
      "selected with a model label",
      v1({ name: "a", ip: "10.0.0.1", labels: { app: "vllm", [M]: "llama" } }),
      { models: ["llama"] },
    ],
    [
      "the pool's port wins over the port label; metric-port label still applies",
      v1({
        name: "a",
        ip: "10.0.0.1",
        labels: { app: "vllm", "model.aibrix.ai/port": "9000", "model.aibrix.ai/metric-port": "9100" },
      }),
      { port: 8200, address: "10.0.0.1:8200", metricsPort: 9100 },
    ],
    ["not selected", v1({ name: "a", ip: "10.0.0.1", labels: { app: "other", [M]: "llama" } }), undefined],
    [
      "selected Ray worker is still ignored",
      v1({ name: "a", ip: "10.0.0.1", labels: { app: "vllm", "ray.io/node-type": "worker" } }),
      undefined,
    ],
  ])("%s", (_name, obj, expected) => {
    const pod = podFromObject(obj, [], pool);
    if (expected === undefined) expect(pod).toBeUndefined();
    else expect(pod).toMatchObject(expected);
  });

  it("adds adapters next to the any-model marker", () => {
    expect(
      podFromObject(v1({ name: "a", ip: "1.2.3.4", labels: { app: "vllm" } }), ["lora"], pool)?.models,
    ).toEqual(["*", "lora"]);
  });
});

describe("helpers", () => {
  it.each([
    ["8000", 8000],
    [" 80 ", 80],
    ["0", undefined],
    ["65536", undefined],
    ["-1", undefined],
    ["8e3", undefined],
    ["", undefined],
    [undefined, undefined],
  ])("parsePort(%p) = %p", (v, want) => expect(parsePort(v)).toBe(want));

  it.each([
    [{ a: "1", b: "2" }, { a: "1" }, true],
    [{ a: "1" }, { a: "1", b: "2" }, false],
    [{ a: "2" }, { a: "1" }, false],
    [{ a: "1" }, {}, false],
  ])("matchesSelector(%p, %p) = %p", (labels, sel, want) => expect(matchesSelector(labels, sel)).toBe(want));

  it.each([
    [{ "ray.io/node-type": "worker" }, true],
    [{ "stormservice.orchestration.aibrix.ai/pod-group-index": "2" }, true],
    [{ "stormservice.orchestration.aibrix.ai/pod-group-index": "x" }, false],
    [{}, false],
  ])("isIgnoredPod(%p) = %p", (labels, want) => expect(isIgnoredPod(labels)).toBe(want));

  it("samePod compares every field", () => {
    const a = podFromObject(v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m" } }))!;
    expect(samePod(a, podFromObject(v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m" } }))!)).toBe(true);
    expect(samePod(a, podFromObject(v1({ name: "a", ip: "10.0.0.2", labels: { [M]: "m" } }))!)).toBe(false);
    expect(samePod(a, podFromObject(v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m", x: "y" } }))!)).toBe(
      false,
    );
    expect(samePod(a, podFromObject(v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m" } }), ["l"])!)).toBe(
      false,
    );
  });

  it("carries the pod's UID, so a pod re-created under the same name is a different pod", () => {
    const withUid = (uid: string) => {
      const obj = v1({ name: "a", ip: "10.0.0.1", labels: { [M]: "m" } });
      obj.metadata!.uid = uid;
      return podFromObject(obj)!;
    };
    expect(withUid("u-1").uid).toBe("u-1");
    expect(samePod(withUid("u-1"), withUid("u-1"))).toBe(true);
    expect(samePod(withUid("u-1"), withUid("u-2"))).toBe(false);
  });
});

describe("custom resources", () => {
  it.each<[string, unknown, ReturnType<typeof adapterFromObject>]>([
    [
      "instances",
      { metadata: { name: "l", namespace: "d" }, status: { instances: ["p1", "p2", "p1"] } },
      { namespace: "d", name: "l", instances: ["p1", "p2"] },
    ],
    [
      "no status yet",
      { metadata: { name: "l", namespace: "d" } },
      { namespace: "d", name: "l", instances: [] },
    ],
    [
      "junk instances",
      { metadata: { name: "l", namespace: "d" }, status: { instances: [1, "", "p"] } },
      { namespace: "d", name: "l", instances: ["p"] },
    ],
    ["no namespace", { metadata: { name: "l" } }, undefined],
    ["not an object", "x", undefined],
  ])("adapterFromObject: %s", (_n, obj, want) => expect(adapterFromObject(obj)).toEqual(want));

  it.each<[string, unknown, ReturnType<typeof poolFromObject>]>([
    [
      "v1 pool",
      { spec: { selector: { matchLabels: { app: "v" } }, targetPorts: [{ number: 8000 }] } },
      { spec: { matchLabels: { app: "v" }, port: 8000, ports: [8000] } },
    ],
    [
      "several target ports (data-parallel ranks)",
      {
        spec: {
          selector: { matchLabels: { app: "v" } },
          targetPorts: [{ number: 8000 }, { number: 8002 }, { number: 8004 }],
        },
      },
      { spec: { matchLabels: { app: "v" }, port: 8000, ports: [8000, 8002, 8004] } },
    ],
    [
      "a later bad port",
      { spec: { selector: { matchLabels: { app: "v" } }, targetPorts: [{ number: 8000 }, { number: "x" }] } },
      { invalid: "spec.targetPorts[1].number is not a port number" },
    ],
    [
      "a port listed twice",
      {
        spec: { selector: { matchLabels: { app: "v" } }, targetPorts: [{ number: 8000 }, { number: 8000 }] },
      },
      { invalid: "spec.targetPorts[1].number 8000 is listed twice" },
    ],
    [
      "v1alpha2 flat selector",
      { spec: { selector: { app: "v" }, targetPortNumber: 8000 } },
      { invalid: "spec.selector.matchLabels is empty" },
    ],
    [
      "no ports",
      { spec: { selector: { matchLabels: { app: "v" } }, targetPorts: [] } },
      { invalid: "spec.targetPorts[0].number is not a port number" },
    ],
    [
      "bad port",
      { spec: { selector: { matchLabels: { app: "v" } }, targetPorts: [{ number: 0 }] } },
      { invalid: "spec.targetPorts[0].number is not a port number" },
    ],
    ["no spec", {}, { invalid: "no spec" }],
  ])("poolFromObject: %s", (_n, obj, want) => expect(poolFromObject(obj)).toEqual(want));

  it("asObjectList keeps named items and the resourceVersion", () => {
    expect(
      asObjectList({
        metadata: { resourceVersion: "7" },
        items: [{ metadata: { name: "a" } }, { metadata: {} }, null],
      }),
    ).toEqual({
      metadata: { resourceVersion: "7" },
      items: [{ metadata: { name: "a" } }],
    });
    expect(asObjectList({ items: "no" })).toBeUndefined();
    expect(asObjectList(undefined)).toBeUndefined();
  });

  it("builds list/watch paths", () => {
    expect(resourcePath(PODS)).toBe("/api/v1/pods");
    expect(resourcePath(PODS, "ns")).toBe("/api/v1/namespaces/ns/pods");
    expect(resourcePath(MODEL_ADAPTERS)).toBe("/apis/model.aibrix.ai/v1alpha1/modeladapters");
    expect(resourcePath(INFERENCE_POOLS, "ns")).toBe(
      "/apis/inference.networking.k8s.io/v1/namespaces/ns/inferencepools",
    );
  });

  it("describes errors in one stable line", () => {
    const apiErr = Object.assign(new Error("HTTP-Code: 404\nMessage: x\nHeaders: {date}"), {
      code: 404,
      body: '{"kind":"Status","message":"not found"}',
    });
    expect(describeError(apiErr)).toBe("HTTP 404: not found");
    expect(isNotFound(apiErr)).toBe(true);
    expect(describeError(Object.assign(new Error("Gone"), { statusCode: 410 }))).toBe("HTTP 410: Gone");
    expect(
      describeError(Object.assign(new Error("Premature close"), { code: "ERR_STREAM_PREMATURE_CLOSE" })),
    ).toBe("Premature close (ERR_STREAM_PREMATURE_CLOSE)");
    expect(describeError("x".repeat(400))).toHaveLength(300);
    expect(isNotFound(new Error("x"))).toBe(false);
  });
});

describe("backoff", () => {
  it("doubles to the cap with jitter and resets", () => {
    const mid = createBackoff({ initialMs: 100, maxMs: 1000 }, () => 0.5);
    expect([mid.next(), mid.next(), mid.next(), mid.next(), mid.next()]).toEqual([100, 200, 400, 800, 1000]);
    mid.reset();
    expect(mid.next()).toBe(100);
    const low = createBackoff({ initialMs: 100, maxMs: 1000 }, () => 0);
    const high = createBackoff({ initialMs: 100, maxMs: 1000 }, () => 0.999);
    expect(low.next()).toBe(80);
    expect(high.next()).toBe(120);
    expect(() => createBackoff({ initialMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => createBackoff({ initialMs: 10, maxMs: 5 })).toThrow(RangeError);
  });
});
