/**
 * The P/D step's parts on their own: roles from labels (AIBrix's and llm-d's), the engines' request forms, and the
 * prefill client's bounds (concurrency, response size) against a real loopback HTTP server.
 */
import type { Pod } from "../../../src/cluster/pod";
import { completeRolesets, pdPlacement } from "../../../src/cluster/pd-roles";
import { podFromObject } from "../../../src/cluster/discovery/kubernetes/pod-mapping";
import { createPrefillClient } from "../../../src/routing/pd/prefill-client";
import { formFor } from "../../../src/routing/pd/prefill-forms";
import { decodeCandidates } from "../../../src/routing/strategies/pd";
import { makePod } from "../pods";
import { startFakePrefillPod } from "../../support/fake-prefill-pod";

const labelled = (name: string, labels: Record<string, string>, engine = "vllm"): Pod => ({
  ...makePod(0, { name, ip: "127.0.0.1", engine, labels }),
});

describe("roles from labels", () => {
  it("reads AIBrix's role-name/roleset-name and llm-d's role label; other values are combined pods", () => {
    expect(pdPlacement(labelled("a", { "role-name": "prefill", "roleset-name": "x" }))).toEqual({
      role: "prefill",
      roleset: "x",
    });
    expect(pdPlacement(labelled("b", { "llm-d.ai/role": "decode" }))).toEqual({
      role: "decode",
      roleset: "default",
    });
    expect(pdPlacement(labelled("c", { "llm-d.ai/role": "both" }))).toBeUndefined();
    expect(pdPlacement(labelled("d", { "role-name": "all", "roleset-name": "x" }))).toBeUndefined();
  });

  it("an InferencePool member keeps its role labels (llm-d's role on a pool selected by app label)", () => {
    const member = podFromObject(
      {
        metadata: { name: "vllm-p-0", namespace: "ns", labels: { app: "qwen", "llm-d.ai/role": "prefill" } },
        status: { podIP: "127.0.0.9", phase: "Running", conditions: [{ type: "Ready", status: "True" }] },
      },
      [],
      { matchLabels: { app: "qwen" }, port: 8000, ports: [8000] },
    );
    expect(member && pdPlacement(member)).toEqual({ role: "prefill", roleset: "default" });
  });

  it("decode candidates: decode pods of complete rolesets, else any decode pods, else everyone", () => {
    const p1 = labelled("p1", { "role-name": "prefill", "roleset-name": "a" });
    const d1 = labelled("d1", { "role-name": "decode", "roleset-name": "a" });
    const d2 = labelled("d2", { "role-name": "decode", "roleset-name": "b" });
    const plain = labelled("plain", {});
    expect([...completeRolesets([p1, d1, d2]).keys()]).toEqual(["a"]);
    expect(decodeCandidates([p1, d1, d2, plain]).map((p) => p.name)).toEqual(["d1"]);
    expect(decodeCandidates([d2, plain]).map((p) => p.name)).toEqual(["d2"]);
    expect(decodeCandidates([plain]).map((p) => p.name)).toEqual(["plain"]);
  });
});

describe("engine forms", () => {
  const request = {
    model: "m",
    messages: [],
    stream: true,
    stream_options: { include_usage: true },
    min_tokens: 3,
  };

  it("vLLM nixl: the prefill carries no kv_transfer_params; the decode gets the whole response", () => {
    const form = formFor(labelled("p", {}), "nixl", () => 0.5)!;
    expect(form.prefillBody(request)).toEqual({
      model: "m",
      messages: [],
      stream: false,
      max_tokens: 1,
      max_completion_tokens: 1,
    });
    expect(form.decodeBody(request, { id: "x" })).toEqual({ ...request, disagg_prefill_resp: { id: "x" } });
  });

  it("vLLM shfs: a response without kv_transfer_params is malformed (no decode body)", () => {
    const form = formFor(labelled("p", {}), "shfs", () => 0.5)!;
    expect(form.decodeBody(request, { id: "x" })).toBeUndefined();
    expect(form.decodeBody(request, { kv_transfer_params: [1] })).toBeUndefined();
  });

  it("SGLang takes its bootstrap port from the pod's label; other engines are not disaggregated", () => {
    const sg = formFor(
      labelled("p", { "model.aibrix.ai/sglang-bootstrap-port": "9001" }, "sglang"),
      "shfs",
      () => 0,
    )!;
    expect(sg.decodeBody(request, undefined)).toMatchObject({ bootstrap_port: 9001, bootstrap_room: 0 });
    expect(formFor(labelled("t", {}, "trtllm"), "shfs", () => 0)).toBeUndefined();
  });
});

describe("prefill client", () => {
  it("at the concurrency bound answers prefill-busy at once; an oversized answer is malformed", async () => {
    const fake = await startFakePrefillPod();
    const target = makePod(0, { ip: "127.0.0.1", port: fake.port });
    const client = createPrefillClient({ timeoutMs: 10_000, maxConcurrent: 1, maxResponseBytes: 16 });
    try {
      fake.mode = "hang";
      const aborter = new AbortController();
      const first = client.post(target, "/v1/completions", Buffer.from("{}"), {}, aborter.signal);
      await fake.received(1);
      expect(client.inFlight()).toBe(1);
      expect(await client.post(target, "/v1/completions", Buffer.from("{}"), {}, undefined)).toEqual({
        ok: false,
        reason: "prefill-busy",
      });
      aborter.abort();
      expect(await first).toEqual({ ok: false, reason: "cancelled" });
      fake.mode = "ok";
      expect(await client.post(target, "/v1/completions", Buffer.from("{}"), {}, undefined)).toEqual({
        ok: false,
        reason: "prefill-malformed",
        status: 200,
      });
      expect(client.inFlight()).toBe(0);
    } finally {
      client.close();
      await fake.stop();
    }
  });
});
