/**
 * Data-parallel ranks as endpoints in Kubernetes discovery (real client, fake API server): an InferencePool with
 * several `targetPorts`, and the `model.aibrix.ai/data-parallel-size` label, each turn a pod into one endpoint per
 * rank; a change of either re-expands it; a bad label leaves one endpoint and is reported once.
 */
import type { Pod } from "../../../../src/cluster/pod";
import type { FakeKubeApi } from "../../../support/fake-kube-api";
import { createFakeKubeApi } from "../../../support/fake-kube-api";
import type { Harness } from "../../../support/kube-fixtures";
import { podObject, poolObject, startHarness } from "../../../support/kube-fixtures";

const M = "model.aibrix.ai/name";
const DP = "model.aibrix.ai/data-parallel-size";

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

/** What routing tells ranks apart by, per endpoint, sorted by key. */
const endpoints = (pods: Iterable<Pod>) =>
  [...pods]
    .map((p) => [p.key, p.name, p.address, p.metricsPort, p.dataParallelRank] as const)
    .sort((a, b) => (a[0] < b[0] ? -1 : 1));

describe("InferencePool with several targetPorts", () => {
  it("makes one endpoint per port for every member, keeping the pod name", async () => {
    fake.add(poolObject("pool", { app: "vllm" }, [8200, 8202, 8204], "serving"));
    fake.add(podObject({ name: "a", namespace: "serving", ip: "10.0.0.1", labels: { app: "vllm" } }));
    fake.add(
      podObject({
        name: "b",
        namespace: "serving",
        ip: "10.0.0.2",
        labels: { app: "vllm", "model.aibrix.ai/metric-port": "9100" },
      }),
    );
    h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
    await h.discovery.ready;
    expect(endpoints(h.store.snapshot().pods.values())).toEqual([
      // Without a metrics port of its own, each rank is its own server and is scraped there.
      ["serving/a/rank-0", "a", "10.0.0.1:8200", 8200, 0],
      ["serving/a/rank-1", "a", "10.0.0.1:8202", 8202, 1],
      ["serving/a/rank-2", "a", "10.0.0.1:8204", 8204, 2],
      // One /metrics for the pod: every rank scrapes it and reads its own engine series.
      ["serving/b/rank-0", "b", "10.0.0.2:8200", 9100, 0],
      ["serving/b/rank-1", "b", "10.0.0.2:8202", 9100, 1],
      ["serving/b/rank-2", "b", "10.0.0.2:8204", 9100, 2],
    ]);
    expect(h.discovery.status().pods).toBe(6);
  });

  it("re-expands when the pool's ports change, and is one plain endpoint per pod with one port", async () => {
    fake.add(poolObject("pool", { app: "vllm" }, [8200, 8300], "serving"));
    fake.add(podObject({ name: "a", namespace: "serving", ip: "10.0.0.1", labels: { app: "vllm" } }));
    h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
    await h.discovery.ready;
    expect([...h.store.snapshot().pods.keys()].sort()).toEqual(["serving/a/rank-0", "serving/a/rank-1"]);

    fake.update(poolObject("pool", { app: "vllm" }, [8200], "serving"));
    const one = await h.untilSnapshot((s) => s.pods.size === 1, "one port");
    expect(endpoints(one.pods.values())).toEqual([["serving/a", "a", "10.0.0.1:8200", 8200, undefined]]);

    fake.update(poolObject("pool", { app: "vllm" }, [8200, 8300, 8400], "serving"));
    const three = await h.untilSnapshot((s) => s.pods.size === 3, "three ports");
    expect(three.pods.get("serving/a/rank-2")?.address).toBe("10.0.0.1:8400");
  });

  it("takes the label's rank count on consecutive ports when the pool has one port", async () => {
    fake.add(poolObject("pool", { app: "vllm" }, 8200, "serving"));
    fake.add(
      podObject({ name: "a", namespace: "serving", ip: "10.0.0.1", labels: { app: "vllm", [DP]: "2" } }),
    );
    h = startHarness(fake, { namespace: "serving", inferencePool: "pool" });
    await h.discovery.ready;
    expect(endpoints(h.store.snapshot().pods.values())).toEqual([
      ["serving/a/rank-0", "a", "10.0.0.1:8200", 8200, 0],
      ["serving/a/rank-1", "a", "10.0.0.1:8201", 8201, 1],
    ]);
  });
});

describe("the model.aibrix.ai/data-parallel-size label", () => {
  it("makes one endpoint per rank on consecutive ports from the pod's port, following label changes", async () => {
    const labelled = (size: string) =>
      podObject({
        name: "p",
        ip: "10.0.0.5",
        labels: { [M]: "llama", "model.aibrix.ai/port": "9000", [DP]: size },
      });
    fake.add(labelled("2"));
    h = startHarness(fake);
    await h.discovery.ready;
    const s = h.store.snapshot();
    expect(endpoints(s.pods.values())).toEqual([
      ["default/p/rank-0", "p", "10.0.0.5:9000", 9000, 0],
      ["default/p/rank-1", "p", "10.0.0.5:9001", 9001, 1],
    ]);
    expect(s.models.get("llama")?.map((p) => p.address)).toEqual(["10.0.0.5:9000", "10.0.0.5:9001"]);

    fake.update(labelled("1"));
    const one = await h.untilSnapshot((x) => x.pods.size === 1, "label 1");
    expect(endpoints(one.pods.values())).toEqual([["default/p", "p", "10.0.0.5:9000", 9000, undefined]]);
    expect(h.errors).toEqual([]);
  });

  it.each(["0", "65", "two", "1.5", ""])(
    "routes a pod labelled %j as one endpoint and reports it once",
    async (size) => {
      fake.add(podObject({ name: "p", ip: "10.0.0.5", labels: { [M]: "llama", [DP]: size } }));
      h = startHarness(fake);
      await h.discovery.ready;
      expect([...h.store.snapshot().pods.keys()]).toEqual(["default/p"]);
      expect(h.errors).toEqual(["pod: bad data-parallel-size on default/p"]);
      expect(h.logs.filter((l) => l.msg.includes("data-parallel-size"))).toHaveLength(1);
      // Another update of the same pod, with the same bad label, is not reported again.
      fake.update(podObject({ name: "p", ip: "10.0.0.6", labels: { [M]: "llama", [DP]: size } }));
      await h.untilSnapshot((x) => x.pods.get("default/p")?.ip === "10.0.0.6", "updated");
      expect(h.errors).toHaveLength(1);
    },
  );
});
