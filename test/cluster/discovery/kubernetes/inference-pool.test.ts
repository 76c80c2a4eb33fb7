/**
 * Kubernetes discovery in InferencePool mode (inference.networking.k8s.io/v1): the pool's selected pods are the
 * fleet. Real client, fake API server.
 */
import { ANY_MODEL, podsForModel } from "../../../../src/cluster/cluster-state";
import { startKubernetesDiscovery } from "../../../../src/cluster/discovery/kubernetes";
import { createClusterStore } from "../../../../src/cluster/cluster-state";
import type { FakeKubeApi } from "../../../support/fake-kube-api";
import { createFakeKubeApi } from "../../../support/fake-kube-api";
import type { Harness } from "../../../support/kube-fixtures";
import { adapterObject, podObject, poolObject, startHarness } from "../../../support/kube-fixtures";

const M = "model.aibrix.ai/name";

let fake: FakeKubeApi;
let h: Harness | undefined;

beforeEach(async () => {
  fake = createFakeKubeApi();
  await fake.start();
});

afterEach(async () => {
  await h?.discovery.close();
  h = undefined;
  await fake.stop();
});

const member = (
  name: string,
  ip: string,
  extra: Record<string, string> = {},
  namespace = "serving",
): ReturnType<typeof podObject> => podObject({ name, namespace, ip, labels: { app: "vllm", ...extra } });

it("takes the selected pods, the pool's port, and any-model unless a pod names its model", async () => {
  fake.add(poolObject("pool", { app: "vllm" }, 8200, "serving"));
  fake.add(member("any", "10.0.0.1", { "model.aibrix.ai/metric-port": "9100" }));
  fake.add(member("named", "10.0.0.2", { [M]: "llama", "model.aibrix.ai/port": "9999" }));
  fake.add(
    podObject({
      name: "other",
      namespace: "serving",
      ip: "10.0.0.3",
      labels: { app: "redis", [M]: "llama" },
    }),
  );
  fake.add(member("elsewhere", "10.0.0.4", {}, "other-ns"));
  h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
  await h.discovery.ready;

  const s = h.store.snapshot();
  expect([...s.pods.keys()].sort()).toEqual(["serving/any", "serving/named"]);
  expect(h.pod("serving/any")).toMatchObject({
    models: [ANY_MODEL],
    port: 8200,
    address: "10.0.0.1:8200",
    metricsPort: 9100,
  });
  expect(h.pod("serving/named")).toMatchObject({ models: ["llama"], port: 8200, metricsPort: 8200 });
  expect(podsForModel(s, "llama")?.map((p) => p.name)).toEqual(["named"]);
  expect(podsForModel(s, "anything-else")?.map((p) => p.name)).toEqual(["any"]);
  // Only the pool's namespace is listed and watched.
  expect(fake.counters.list.inferencepools).toBe(1);
});

it("follows selector and port changes, pod membership changes, and deletion of the pool", async () => {
  fake.add(poolObject("pool", { app: "vllm" }, 8200, "serving"));
  fake.add(member("a", "10.0.0.1"));
  fake.add(podObject({ name: "b", namespace: "serving", ip: "10.0.0.2", labels: { app: "sglang" } }));
  h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
  await h.discovery.ready;
  expect([...h.store.snapshot().pods.keys()]).toEqual(["serving/a"]);

  fake.update(poolObject("pool", { app: "sglang" }, 8300, "serving"));
  await h.untilSnapshot((s) => [...s.pods.keys()].join() === "serving/b", "selector moved to b");
  expect(h.pod("serving/b")?.port).toBe(8300);

  fake.update(podObject({ name: "a", namespace: "serving", ip: "10.0.0.1", labels: { app: "sglang" } }));
  await h.untilSnapshot((s) => s.pods.size === 2, "a relabelled into the pool");

  fake.delete(poolObject("pool", {}, 1, "serving"));
  await h.untilSnapshot((s) => s.pods.size === 0, "pool deleted");
  await h.until(
    () => h?.logs.some((l) => l.level === "error" && /not found/.test(l.msg)) === true,
    "missing pool logged",
  );
  expect(h.events).toEqual(expect.arrayContaining(["pool:add", "pool:update", "pool:delete"]));
});

it("is loaded with no pods while the pool does not exist, and fills when it is created", async () => {
  fake.add(member("a", "10.0.0.1"));
  h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
  await h.discovery.ready;
  expect(h.store.snapshot()).toMatchObject({ loaded: true });
  expect(h.store.snapshot().pods.size).toBe(0);
  expect(h.logs.filter((l) => l.level === "error").map((l) => l.msg)).toEqual([
    "InferencePool pool not found",
  ]);

  fake.add(poolObject("pool", { app: "vllm" }, 8200, "serving"));
  await h.untilSnapshot((s) => s.pods.size === 1, "pool created");
  expect(h.logs.some((l) => l.msg === "InferencePool is usable")).toBe(true);
});

it("reports an unusable pool (no selector) and routes nothing", async () => {
  fake.add({
    kind: "InferencePool",
    metadata: { name: "pool", namespace: "serving" },
    spec: { targetPorts: [{ number: 8000 }] },
  });
  fake.add(member("a", "10.0.0.1"));
  h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
  await h.discovery.ready;
  expect(h.store.snapshot().pods.size).toBe(0);
  expect(
    h.logs.some((l) => l.level === "error" && /unusable: spec.selector.matchLabels is empty/.test(l.msg)),
  ).toBe(true);
});

it("applies ModelAdapters to pool members", async () => {
  fake.add(poolObject("pool", { app: "vllm" }, 8200, "serving"));
  fake.add(member("a", "10.0.0.1"));
  fake.add(adapterObject("lora", ["a"], "serving"));
  h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
  await h.discovery.ready;
  expect(h.pod("serving/a")).toMatchObject({ models: [ANY_MODEL, "lora"], adapters: ["lora"] });
});

it("syncs without the ModelAdapter CRD (404) and keeps retrying it", async () => {
  fake.failRequests("modeladapters", 404);
  fake.add(poolObject("pool", { app: "vllm" }, 8200, "serving"));
  fake.add(member("a", "10.0.0.1"));
  h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
  await h.discovery.ready;
  expect(h.pod("serving/a")?.ready).toBe(true);
  expect(h.logs.some((l) => /ModelAdapter resource not served/.test(l.msg))).toBe(true);
  expect(h.discovery.status().lastError).toMatch(/^adapter: HTTP 404/);

  // The CRD gets installed: adapters start to apply.
  fake.add(adapterObject("lora", ["a"], "serving"));
  fake.failRequests("modeladapters", undefined);
  await h.until(() => h?.pod("serving/a")?.adapters.length === 1, "adapter after CRD install");
  expect(h.discovery.status().lastError).toBeUndefined();
});

it("requires a namespace in InferencePool mode", () => {
  expect(() =>
    startKubernetesDiscovery({
      kubeConfig: fake.kubeConfig(),
      inferencePool: "pool",
      store: createClusterStore(),
      log: { info: () => undefined, error: () => undefined },
    }),
  ).toThrow(/namespace is required/);
});
