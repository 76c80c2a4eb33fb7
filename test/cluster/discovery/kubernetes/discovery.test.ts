/**
 * Kubernetes discovery in AIBrix label mode: the real client against the in-process fake API server.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { loadKubeConfig } from "../../../../src/cluster/discovery/kubernetes";
import type { FakeKubeApi } from "../../../support/fake-kube-api";
import { createFakeKubeApi } from "../../../support/fake-kube-api";
import type { Harness } from "../../../support/kube-fixtures";
import { adapterObject, podObject, startHarness } from "../../../support/kube-fixtures";

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

describe("initial sync", () => {
  it("fills the store once, with routable and unroutable pods mapped as specified", async () => {
    fake.add(
      podObject({
        name: "ready",
        ip: "10.0.0.1",
        labels: {
          [M]: "llama",
          "model.aibrix.ai/port": "9000",
          "model.aibrix.ai/metric-port": "9100",
          "model.aibrix.ai/engine": "sglang",
        },
      }),
    );
    fake.add(podObject({ name: "annotated", ip: "10.0.0.2", annotations: { [M]: "meta-llama/Llama-3-8B" } }));
    fake.add(podObject({ name: "starting", ip: "10.0.0.3", ready: false, labels: { [M]: "llama" } }));
    fake.add(podObject({ name: "pending", labels: { [M]: "llama" } }));
    fake.add(podObject({ name: "stopping", ip: "10.0.0.5", terminating: true, labels: { [M]: "llama" } }));
    fake.add(podObject({ name: "unrelated", ip: "10.0.0.6", labels: { app: "redis" } }));
    fake.add(
      podObject({
        name: "ray-worker",
        ip: "10.0.0.7",
        labels: { [M]: "llama", "ray.io/node-type": "worker" },
      }),
    );
    h = startHarness(fake);
    expect(h.store.snapshot().loaded).toBe(false);
    await h.discovery.ready;

    const s = h.store.snapshot();
    expect(s.loaded).toBe(true);
    expect(h.replaces()).toBe(1);
    expect([...s.pods.keys()].sort()).toEqual([
      "default/annotated",
      "default/pending",
      "default/ready",
      "default/starting",
      "default/stopping",
    ]);
    expect(h.pod("default/ready")).toEqual({
      key: "default/ready",
      name: "ready",
      namespace: "default",
      ip: "10.0.0.1",
      port: 9000,
      address: "10.0.0.1:9000",
      metricsPort: 9100,
      models: ["llama"],
      adapters: [],
      ready: true,
      engine: "sglang",
      labels: {
        [M]: "llama",
        "model.aibrix.ai/port": "9000",
        "model.aibrix.ai/metric-port": "9100",
        "model.aibrix.ai/engine": "sglang",
      },
    });
    expect(h.pod("default/annotated")).toMatchObject({
      models: ["meta-llama/Llama-3-8B"],
      ready: true,
      port: 8000,
      engine: "vllm",
    });
    expect(h.pod("default/starting")?.ready).toBe(false);
    expect(h.pod("default/pending")).toMatchObject({ ready: false, ip: "", address: "" });
    expect(h.pod("default/stopping")?.ready).toBe(false);
    expect(s.models.get("llama")?.map((p) => p.name)).toEqual(["pending", "ready", "starting", "stopping"]);
    expect(h.discovery.status()).toEqual({ synced: true, pods: 5 });
    expect(h.logs.find((l) => l.msg === "kubernetes discovery synced")?.obj).toMatchObject({
      pods: 5,
      adapters: 0,
    });
  });

  it("loads an empty cluster (readiness means the fleet is known, even if empty)", async () => {
    h = startHarness(fake);
    await h.discovery.ready;
    expect(h.store.snapshot()).toMatchObject({ loaded: true, version: 1 });
    expect(h.store.snapshot().pods.size).toBe(0);
  });
});

describe("watch events", () => {
  it("applies IP assignment, Ready flips, label changes and deletes", async () => {
    fake.add(podObject({ name: "p", labels: { [M]: "m" } }));
    h = startHarness(fake);
    await h.discovery.ready;
    expect(h.pod("default/p")?.ready).toBe(false);

    fake.update(podObject({ name: "p", ip: "10.1.0.1", ready: false, labels: { [M]: "m" } }));
    await h.until(() => h?.pod("default/p")?.ip === "10.1.0.1", "IP assigned");
    expect(h.pod("default/p")).toMatchObject({ ready: false, address: "10.1.0.1:8000" });

    fake.update(podObject({ name: "p", ip: "10.1.0.1", labels: { [M]: "m" } }));
    await h.until(() => h?.pod("default/p")?.ready === true, "Ready");

    fake.update(podObject({ name: "p", ip: "10.1.0.1", labels: { [M]: "m2" } }));
    await h.untilSnapshot((s) => s.models.has("m2") && !s.models.has("m"), "model relabelled");

    fake.update(podObject({ name: "p", ip: "10.1.0.1", terminating: true, labels: { [M]: "m2" } }));
    await h.until(() => h?.pod("default/p")?.ready === false, "terminating");

    fake.delete(podObject({ name: "p" }));
    await h.until(() => h?.pod("default/p") === undefined, "deleted");
    expect(h.events).toEqual(expect.arrayContaining(["pod:add", "pod:update", "pod:delete"]));
  });

  it("adds a pod that gains the model label, and drops one that loses it", async () => {
    fake.add(podObject({ name: "p", ip: "10.1.0.1", labels: { app: "x" } }));
    h = startHarness(fake);
    await h.discovery.ready;
    expect(h.store.snapshot().pods.size).toBe(0);
    fake.update(podObject({ name: "p", ip: "10.1.0.1", labels: { app: "x", [M]: "m" } }));
    await h.until(() => h?.pod("default/p")?.ready === true, "labelled pod");
    fake.update(podObject({ name: "p", ip: "10.1.0.1", labels: { app: "x" } }));
    await h.until(() => h?.pod("default/p") === undefined, "unlabelled pod gone");
  });

  it("does not replace the store for changes that do not alter any routing pod", async () => {
    fake.add(podObject({ name: "p", ip: "10.1.0.1", labels: { [M]: "m" } }));
    h = startHarness(fake);
    await h.discovery.ready;
    fake.add(podObject({ name: "other", ip: "10.1.0.2", labels: { app: "redis" } }));
    fake.update(podObject({ name: "p", ip: "10.1.0.1", labels: { [M]: "m" }, annotations: { note: "x" } }));
    fake.add(podObject({ name: "q", ip: "10.1.0.3", labels: { [M]: "m" } }));
    await h.until(() => h?.pod("default/q") !== undefined, "q");
    // One replace for the sync and one for q: the unrelated pod and the annotation changed nothing.
    expect(h.replaces()).toBe(2);
  });
});

describe("namespace scoping", () => {
  it("watches only the given namespace", async () => {
    fake.add(podObject({ name: "a", namespace: "team-a", ip: "10.0.0.1", labels: { [M]: "m" } }));
    fake.add(podObject({ name: "b", namespace: "team-b", ip: "10.0.0.2", labels: { [M]: "m" } }));
    h = startHarness(fake, { namespace: "team-a" });
    await h.discovery.ready;
    expect([...h.store.snapshot().pods.keys()]).toEqual(["team-a/a"]);
    fake.add(podObject({ name: "b2", namespace: "team-b", ip: "10.0.0.3", labels: { [M]: "m" } }));
    fake.add(podObject({ name: "a2", namespace: "team-a", ip: "10.0.0.4", labels: { [M]: "m" } }));
    await h.until(() => h?.pod("team-a/a2") !== undefined, "a2");
    expect([...h.store.snapshot().pods.keys()].sort()).toEqual(["team-a/a", "team-a/a2"]);
  });

  it("watches all namespaces by default", async () => {
    fake.add(podObject({ name: "a", namespace: "team-a", ip: "10.0.0.1", labels: { [M]: "m" } }));
    fake.add(podObject({ name: "b", namespace: "team-b", ip: "10.0.0.2", labels: { [M]: "m" } }));
    h = startHarness(fake);
    await h.discovery.ready;
    expect([...h.store.snapshot().pods.keys()].sort()).toEqual(["team-a/a", "team-b/b"]);
  });
});

describe("ModelAdapter", () => {
  const base = (name: string, ip: string, namespace = "default"): ReturnType<typeof podObject> =>
    podObject({ name, namespace, ip, labels: { [M]: "base" } });

  it("applies an adapter that arrived before its pods", async () => {
    fake.add(adapterObject("lora-a", ["p1"]));
    h = startHarness(fake);
    await h.discovery.ready;
    expect(h.store.snapshot().models.has("lora-a")).toBe(false);
    fake.add(base("p1", "10.0.0.1"));
    fake.add(base("p2", "10.0.0.2"));
    const s = await h.untilSnapshot((x) => x.pods.size === 2, "pods");
    expect(s.pods.get("default/p1")).toMatchObject({ models: ["base", "lora-a"], adapters: ["lora-a"] });
    expect(s.pods.get("default/p2")).toMatchObject({ models: ["base"], adapters: [] });
    expect(s.models.get("lora-a")?.map((p) => p.name)).toEqual(["p1"]);
  });

  it("applies an adapter listed together with its pods, and one added later", async () => {
    fake.add(base("p1", "10.0.0.1"));
    fake.add(base("p2", "10.0.0.2"));
    fake.add(adapterObject("lora-a", ["p1"]));
    h = startHarness(fake);
    await h.discovery.ready;
    expect(h.pod("default/p1")?.adapters).toEqual(["lora-a"]);
    fake.add(adapterObject("lora-b", ["p1", "p2"]));
    await h.untilSnapshot((s) => s.models.get("lora-b")?.length === 2, "lora-b on both pods");
    expect(h.pod("default/p1")?.models).toEqual(["base", "lora-a", "lora-b"]);
  });

  it("moves instances on update and removes the adapter on delete", async () => {
    fake.add(base("p1", "10.0.0.1"));
    fake.add(base("p2", "10.0.0.2"));
    fake.add(adapterObject("lora-a", ["p1"]));
    h = startHarness(fake);
    await h.discovery.ready;
    fake.update(adapterObject("lora-a", ["p2"]));
    await h.untilSnapshot(
      (s) =>
        s.models
          .get("lora-a")
          ?.map((p) => p.name)
          .join() === "p2",
      "moved to p2",
    );
    expect(h.pod("default/p1")?.adapters).toEqual([]);
    fake.delete(adapterObject("lora-a", []));
    await h.untilSnapshot((s) => !s.models.has("lora-a"), "adapter deleted");
    expect(h.pod("default/p2")?.models).toEqual(["base"]);
    expect(h.events).toEqual(expect.arrayContaining(["adapter:add", "adapter:update", "adapter:delete"]));
  });

  it("keeps the adapter when a pod is deleted and re-created under the same name", async () => {
    fake.add(base("p1", "10.0.0.1"));
    fake.add(adapterObject("lora-a", ["p1"]));
    h = startHarness(fake);
    await h.discovery.ready;
    fake.delete(base("p1", "10.0.0.1"));
    await h.until(() => h?.pod("default/p1") === undefined, "p1 gone");
    fake.add(base("p1", "10.0.0.9"));
    await h.until(() => h?.pod("default/p1")?.ip === "10.0.0.9", "p1 back");
    expect(h.pod("default/p1")?.adapters).toEqual(["lora-a"]);
  });

  it("maps instances only to pods in the adapter's namespace", async () => {
    fake.add(base("p1", "10.0.0.1", "ns-a"));
    fake.add(base("p1", "10.0.0.2", "ns-b"));
    fake.add(adapterObject("lora-a", ["p1"], "ns-a"));
    h = startHarness(fake);
    await h.discovery.ready;
    expect(h.pod("ns-a/p1")?.adapters).toEqual(["lora-a"]);
    expect(h.pod("ns-b/p1")?.adapters).toEqual([]);
  });

  it("ignores adapters on pods that are not model pods", async () => {
    fake.add(podObject({ name: "p1", ip: "10.0.0.1", labels: { app: "x" } }));
    fake.add(adapterObject("lora-a", ["p1"]));
    h = startHarness(fake);
    await h.discovery.ready;
    expect(h.store.snapshot().pods.size).toBe(0);
  });
});

describe("loadKubeConfig", () => {
  const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
  afterEach(() => {
    for (const [k, v] of [
      ["KUBERNETES_SERVICE_HOST", saved.host],
      ["KUBERNETES_SERVICE_PORT", saved.port],
    ] as const) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  });

  it("loads a kubeconfig file that discovery can use", async () => {
    const dir = await mkdtemp(join(tmpdir(), "kvroute-kc-"));
    try {
      const file = join(dir, "config");
      await writeFile(
        file,
        [
          "apiVersion: v1",
          "kind: Config",
          `clusters: [{name: fake, cluster: {server: "http://127.0.0.1:${fake.port}", insecure-skip-tls-verify: true}}]`,
          "users: [{name: u, user: {}}]",
          "contexts: [{name: c, context: {cluster: fake, user: u}}]",
          "current-context: c",
        ].join("\n"),
      );
      fake.add(podObject({ name: "p", ip: "10.0.0.1", labels: { [M]: "m" } }));
      h = startHarness(fake, { kubeConfig: loadKubeConfig(file) });
      // The client refuses plain HTTP unless TLS verification is off, even for a local server.
      await h.until(() => h!.isReady() || h!.errors.length > 0, "ready or an error");
      expect(h.errors).toEqual([]);
      expect(h.pod("default/p")?.ready).toBe(true);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("fails clearly outside a pod when no kubeconfig is given, and on a missing file", () => {
    delete process.env.KUBERNETES_SERVICE_HOST;
    delete process.env.KUBERNETES_SERVICE_PORT;
    expect(() => loadKubeConfig(undefined)).toThrow(/not running in a Kubernetes pod/);
    expect(() => loadKubeConfig("/nonexistent/kubeconfig")).toThrow();
  });
});
