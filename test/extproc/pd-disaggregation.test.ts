/**
 * Prefill/decode disaggregation end to end through the real gRPC server, in the issue's order: a `pd` request's
 * prefill pod is picked first among the complete rolesets' prefill pods (prefix hits and prefill token load), its
 * prefill request reaches it (a real loopback HTTP server) in vLLM's form, its reservation is given back when the
 * hop ends, and only then is the decode pod picked within the prefill pod's roleset; the decode request Envoy
 * forwards carries the returned `kv_transfer_params` as a body mutation (BUFFERED and FULL_DUPLEX_STREAMED).
 * Short prompts skip the hop; a failing or hanging prefill pod falls back to the decode pod with a counted reason;
 * a cancelled stream closes the prefill connection.
 */
import type { Pod } from "../../src/cluster/pod";
import type { ProcessingResponse } from "../../src/extproc/messages";
import { KV_PARAMS, startFakePrefillPod } from "../support/fake-prefill-pod";
import type { FakePrefillPod } from "../support/fake-prefill-pod";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  pod,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";
import type { Harness } from "./harness";
import { debugPods, finishedLine, metricValue } from "./harness-probes";
import { until } from "./slo-fleet";

const PD = { ...CHAT_HEADERS, "routing-strategy": "pd", authorization: "Bearer k1" };
/** ~75 estimated tokens: above the threshold of 20. */
const LONG = "a long prompt that is worth a prefill on its own pod ".repeat(6);

function placed(p: Pod, role: string, roleset: string, engine = "vllm"): Pod {
  return { ...p, engine, labels: { ...p.labels, "role-name": role, "roleset-name": roleset } };
}

const bodyOf = (r: ProcessingResponse | undefined): Record<string, unknown> | undefined => {
  const b = r?.request_body?.response?.body_mutation?.body;
  return b === undefined
    ? undefined
    : (JSON.parse(Buffer.from(b).toString("utf8")) as Record<string, unknown>);
};

describe("pd: prefill/decode disaggregation", () => {
  let prefill: FakePrefillPod;
  let lonePrefill: FakePrefillPod;
  let h: Harness;

  beforeAll(async () => {
    prefill = await startFakePrefillPod();
    lonePrefill = await startFakePrefillPod();
    h = await startHarness(
      [
        placed(pod("p-a", "127.0.0.1", ["m1"], true, prefill.port), "prefill", "rs-a"),
        placed(pod("d-a", "127.0.0.2", ["m1"]), "decode", "rs-a"),
        // An incomplete roleset: its prefill pod must never be used (no decode pod to pair with).
        placed(pod("p-b", "127.0.0.1", ["m1"], true, lonePrefill.port), "prefill", "rs-b"),
      ],
      ["--pd-min-prefill-tokens", "20", "--pd-prefill-request-timeout", "1"],
    );
  });
  afterAll(async () => {
    await h.close();
    await prefill.stop();
    await lonePrefill.stop();
  });
  beforeEach(() => {
    prefill.mode = "ok";
    prefill.seen.length = 0;
  });

  it("shows each pod's role and roleset in /debug/state", async () => {
    const pods = await debugPods<{ name: string; pdRole?: string; pdRoleset?: string }>(h);
    expect(pods.map((p) => [p.name, p.pdRole, p.pdRoleset]).sort()).toEqual([
      ["d-a", "decode", "rs-a"],
      ["p-a", "prefill", "rs-a"],
      ["p-b", "prefill", "rs-b"],
    ]);
  });

  it("BUFFERED: prefills on the roleset's prefill pod, then routes the decode pod with kv_transfer_params", async () => {
    const s = h.client.open();
    await s.exchange(headers({ ...PD, "x-request-id": "pd-1" }));
    const original = chatBody("m1", LONG, { stream: true, stream_options: { include_usage: true } });
    const [decision] = await s.exchange(body(original));

    expect(prefill.seen).toHaveLength(1);
    const sent = prefill.seen[0]!;
    expect(sent.path).toBe("/v1/chat/completions");
    expect(sent.headers["x-request-id"]).toBe("pd-1");
    expect(sent.headers.authorization).toBe("Bearer k1");
    const { stream_options: _dropped, ...rest } = JSON.parse(original) as Record<string, unknown>;
    expect(sent.body).toEqual({
      ...rest,
      max_tokens: 1,
      max_completion_tokens: 1,
      stream: false,
      kv_transfer_params: {
        do_remote_decode: true,
        do_remote_prefill: false,
        remote_engine_id: null,
        remote_block_ids: null,
        remote_host: null,
        remote_port: null,
      },
    });
    expect(lonePrefill.seen).toHaveLength(0);

    const set = setHeaders(decision);
    expect(set["target-pod"]).toBe("127.0.0.2:8000");
    const decode = bodyOf(decision);
    expect(decode).toEqual({
      ...(JSON.parse(original) as object),
      kv_transfer_params: { ...KV_PARAMS, remote_host: "127.0.0.1" },
    });
    expect(set["content-length"]).toBe(String(Buffer.byteLength(JSON.stringify(decode))));

    const [rh] = await s.exchange(responseHeaders(200));
    expect(setHeaders(rh)).toMatchObject({
      "prefill-target-pod": "p-a",
      "prefill-target-pod-ip": "127.0.0.1",
    });
    expect(setHeaders(rh)["x-kvroute-pd-fallback"]).toBeUndefined();
    s.end();
    const line = await finishedLine(h, { requestId: "pd-1" });
    expect(line).toMatchObject({ pod: "d-a", prefillPod: "p-a" });
    expect(typeof line["prefillMs"]).toBe("number");
    expect(await metricValue(h, "kvroute_pd_pairs_total", { roleset: "rs-a" })).toBeGreaterThanOrEqual(1);
    expect(
      await metricValue(h, "kvroute_pd_prefill_duration_seconds", { result: "ok", le: "+Inf" }),
    ).toBeGreaterThan(0);
  });

  it("FULL_DUPLEX_STREAMED: the body streamed back to Envoy is the decode request", async () => {
    const s = h.client.open();
    const original = chatBody("m1", LONG);
    s.send({ protocol_config: { request_body_mode: "FULL_DUPLEX_STREAMED" }, ...headers(PD) });
    s.send(body(original.slice(0, 40), false));
    const [hr, br] = await s.exchange(body(original.slice(40), true), 2);
    expect(prefill.seen).toHaveLength(1);
    expect(setHeaders(hr)["target-pod"]).toBe("127.0.0.2:8000");
    const streamed = br?.request_body?.response?.body_mutation?.streamed_response;
    expect(streamed?.end_of_stream).toBe(true);
    const decode = Buffer.from(streamed?.body ?? []);
    expect(setHeaders(hr)["content-length"]).toBe(String(decode.length));
    expect(JSON.parse(decode.toString("utf8"))).toEqual({
      ...(JSON.parse(original) as object),
      kv_transfer_params: { ...KV_PARAMS, remote_host: "127.0.0.1" },
    });
    s.end();
  });

  it("a short prompt skips the hop: the decode pod prefills it, body unchanged", async () => {
    const before = await metricValue(h, "kvroute_pd_prefill_skipped_total", { reason: "short-prompt" });
    const s = h.client.open();
    await s.exchange(headers(PD));
    const [decision] = await s.exchange(body(chatBody("m1", "hi")));
    expect(setHeaders(decision)["target-pod"]).toBe("127.0.0.2:8000");
    expect(decision?.request_body?.response?.body_mutation).toBeUndefined();
    expect(prefill.seen).toHaveLength(0);
    const [rh] = await s.exchange(responseHeaders(200));
    expect(setHeaders(rh)["prefill-target-pod"]).toBeUndefined();
    expect(await metricValue(h, "kvroute_pd_prefill_skipped_total", { reason: "short-prompt" })).toBe(
      before + 1,
    );
    s.end();
  });

  it.each([
    ["fail", "prefill-status"],
    ["hang", "prefill-timeout"],
  ] as const)(
    "a prefill pod that does %s falls back to the decode pod (%s, counted)",
    async (mode, reason) => {
      prefill.mode = mode;
      const closedBefore = prefill.closedCount;
      const before = await metricValue(h, "kvroute_pd_prefill_skipped_total", { reason });
      const s = h.client.open();
      await s.exchange(headers(PD));
      const [decision] = await s.exchange(body(chatBody("m1", LONG)));
      expect(prefill.seen).toHaveLength(1);
      expect(setHeaders(decision)["target-pod"]).toBe("127.0.0.2:8000");
      expect(decision?.request_body?.response?.body_mutation).toBeUndefined();
      const [rh] = await s.exchange(responseHeaders(200));
      expect(setHeaders(rh)["x-kvroute-pd-fallback"]).toBe(reason);
      expect(await metricValue(h, "kvroute_pd_prefill_skipped_total", { reason })).toBe(before + 1);
      if (mode === "hang") await prefill.closed(closedBefore + 1);
      s.end();
    },
  );

  /** A pod's load-tracker key, by name. */
  function keyOf(name: string): string {
    const p = [...h.cluster.snapshot().pods.values()].find((x) => x.name === name);
    if (p === undefined) throw new Error(`no pod ${name}`);
    return p.key;
  }

  it("the prefill reservation ends with the hop; the decode pod's holds a slot and no prompt tokens until the end", async () => {
    const s = h.client.open();
    await s.exchange(headers({ ...PD, "x-request-id": "pd-load" }));
    const [decision] = await s.exchange(body(chatBody("m1", LONG)));
    expect(setHeaders(decision)["target-pod"]).toBe("127.0.0.2:8000");
    expect(prefill.seen).toHaveLength(1);
    // The request is still open: the hop is over, so the prefill pod is free; the decode pod computes no prompt.
    expect(h.server.load.get(keyOf("p-a"))).toEqual({ requests: 0, tokens: 0 });
    expect(h.server.load.get(keyOf("d-a"))).toEqual({ requests: 1, tokens: 0 });
    await s.exchange(responseHeaders(200));
    s.end();
    await finishedLine(h, { requestId: "pd-load" });
    expect(h.server.load.get(keyOf("d-a")).requests).toBe(0);
  });

  it("the prefill pod is chosen by prefix hits over two rolesets, and the decode pod within its roleset", async () => {
    const before = [...h.cluster.snapshot().pods.values()];
    // A second complete roleset: rs-b's lone prefill pod gets a decode pod.
    const dB = placed(pod("d-b", "127.0.0.3", ["m1"]), "decode", "rs-b");
    const prompt = chatBody(
      "m1",
      "a prompt that only roleset b has seen before it comes back again ".repeat(5),
    );
    const route = async (): Promise<[ProcessingResponse | undefined, ProcessingResponse | undefined]> => {
      const s = h.client.open();
      await s.exchange(headers(PD));
      const [decision] = await s.exchange(body(prompt));
      const [rh] = await s.exchange(responseHeaders(200));
      s.end();
      return [decision, rh];
    };
    const held: (() => void)[] = [];
    try {
      // rs-a incomplete for one request: the prompt is prefilled (and indexed) on rs-b's prefill pod.
      h.cluster.replace([...before.map((p) => (p.name === "p-a" ? { ...p, ready: false } : p)), dB]);
      const [first] = await route();
      expect(setHeaders(first)["target-pod"]).toBe("127.0.0.3:8000");
      expect(lonePrefill.seen).toHaveLength(1);

      h.cluster.replace([...before, dB]);
      // A request in flight (no prompt tokens) on rs-b's pods: anything choosing by request counts, or decode
      // first by load, would take rs-a; the prefix hit on p-b is what takes rs-b.
      held.push(h.server.load.reserve(keyOf("p-b"), 0), h.server.load.reserve(keyOf("d-b"), 0));
      const [decision, rh] = await route();
      expect(lonePrefill.seen).toHaveLength(2);
      expect(prefill.seen).toHaveLength(0);
      expect(setHeaders(decision)["target-pod"]).toBe("127.0.0.3:8000");
      expect(setHeaders(rh)).toMatchObject({ "prefill-target-pod": "p-b" });
      expect(await metricValue(h, "kvroute_pd_pairs_total", { roleset: "rs-b" })).toBe(2);
    } finally {
      for (const release of held) release();
      h.cluster.replace(before);
      lonePrefill.seen.length = 0;
    }
  });

  it("a long prompt a decode pod already holds skips the hop (cached-prompt) and goes to that pod", async () => {
    const before = [...h.cluster.snapshot().pods.values()];
    const dB = placed(pod("d-b", "127.0.0.3", ["m1"]), "decode", "rs-b");
    const prompt = chatBody("m1", "a long prompt that one decode pod already holds in its cache ".repeat(6));
    const route = async (
      strategy: string,
    ): Promise<[ProcessingResponse | undefined, ProcessingResponse | undefined]> => {
      const s = h.client.open();
      await s.exchange(headers({ ...PD, "routing-strategy": strategy }));
      const [decision] = await s.exchange(body(prompt));
      const [rh] = await s.exchange(responseHeaders(200));
      s.end();
      return [decision, rh];
    };
    const skips = (): Promise<number> =>
      metricValue(h, "kvroute_pd_prefill_skipped_total", { reason: "cached-prompt" });
    const held: (() => void)[] = [];
    try {
      h.cluster.replace([...before, dB]);
      // Nothing cached on any decode pod: the long prompt takes the hop.
      const [cold] = await route("pd");
      expect(prefill.seen.length + lonePrefill.seen.length).toBe(1);
      expect(bodyOf(cold)).toHaveProperty("kv_transfer_params");
      // d-a serves the prompt once on its own (a prefix-aware pick records it there).
      h.cluster.replace(before.filter((p) => p.name === "d-a"));
      const [seed] = await route("prefix-cache");
      expect(setHeaders(seed)["target-pod"]).toBe("127.0.0.2:8000");
      h.cluster.replace([...before, dB]);
      prefill.seen.length = 0;
      lonePrefill.seen.length = 0;
      // d-a busier than d-b: by load alone the request would go to d-b; d-a's cached prompt takes it there.
      held.push(h.server.load.reserve(keyOf("d-a"), 0));
      const skipped = await skips();
      const [decision, rh] = await route("pd");
      expect(prefill.seen.length + lonePrefill.seen.length).toBe(0);
      expect(setHeaders(decision)["target-pod"]).toBe("127.0.0.2:8000");
      expect(decision?.request_body?.response?.body_mutation).toBeUndefined();
      expect(setHeaders(rh)["prefill-target-pod"]).toBeUndefined();
      expect(setHeaders(rh)["x-kvroute-pd-fallback"]).toBeUndefined();
      expect(await skips()).toBe(skipped + 1);
    } finally {
      for (const release of held) release();
      h.cluster.replace(before);
      lonePrefill.seen.length = 0;
    }
  });

  it("the decode pod is picked after the hop: its roleset losing its decode pod meanwhile is a counted no-decode-pod", async () => {
    const before = [...h.cluster.snapshot().pods.values()];
    const dB = placed(pod("d-b", "127.0.0.3", ["m1"]), "decode", "rs-b");
    const ready = (name: string, up: boolean) => (p: Pod) => (p.name === name ? { ...p, ready: up } : p);
    try {
      // Only rs-a is complete when the prefill pod is picked; during the hop d-a goes and rs-b completes.
      h.cluster.replace([...before.map(ready("p-b", false)), dB]);
      prefill.onRequest = () => h.cluster.replace([...before.map(ready("d-a", false)), dB]);
      const before0 = await metricValue(h, "kvroute_pd_prefill_skipped_total", { reason: "no-decode-pod" });
      const [decision, rh] = await routeLong();
      expect(prefill.seen).toHaveLength(1);
      expect(setHeaders(decision)["target-pod"]).toBe("127.0.0.3:8000");
      // Another roleset's decode pod cannot use p-a's KV: it gets the client's body and prefills.
      expect(decision?.request_body?.response?.body_mutation).toBeUndefined();
      expect(setHeaders(rh)["x-kvroute-pd-fallback"]).toBe("no-decode-pod");
      expect(await metricValue(h, "kvroute_pd_prefill_skipped_total", { reason: "no-decode-pod" })).toBe(
        before0 + 1,
      );
    } finally {
      prefill.onRequest = undefined;
      h.cluster.replace(before);
    }
  });

  /** Swap the fleet for one test (restored after): the same pods, changed by `change`. */
  async function withFleet(change: (p: Pod) => Pod, run: () => Promise<void>): Promise<void> {
    const before = [...h.cluster.snapshot().pods.values()];
    h.cluster.replace(before.map(change));
    try {
      await run();
    } finally {
      h.cluster.replace(before);
    }
  }

  /** Route one LONG `pd` request; the decision and the response-headers reply. */
  async function routeLong(): Promise<[ProcessingResponse | undefined, ProcessingResponse | undefined]> {
    const s = h.client.open();
    await s.exchange(headers(PD));
    const [decision] = await s.exchange(body(chatBody("m1", LONG)));
    const [rh] = await s.exchange(responseHeaders(200));
    s.end();
    return [decision, rh];
  }

  it("a model's profile sets its own threshold (routingConfig.pdMinPrefillTokens)", async () => {
    const config = { profiles: { default: { routingConfig: { pdMinPrefillTokens: 100_000 } } } };
    await withFleet(
      (p) => ({ ...p, modelConfig: config }),
      async () => {
        const [decision, rh] = await routeLong();
        expect(setHeaders(decision)["target-pod"]).toBe("127.0.0.2:8000");
        expect(prefill.seen).toHaveLength(0);
        expect(setHeaders(rh)["x-kvroute-pd-fallback"]).toBeUndefined();
      },
    );
  });

  it("a model's profile selects pd without the header (routingStrategy: pd)", async () => {
    const config = { profiles: { default: { routingStrategy: "pd" } } };
    await withFleet(
      (p) => ({ ...p, modelConfig: config }),
      async () => {
        const s = h.client.open();
        await s.exchange(headers(CHAT_HEADERS));
        const [decision] = await s.exchange(body(chatBody("m1", LONG)));
        expect(setHeaders(decision)).toMatchObject({
          "target-pod": "127.0.0.2:8000",
          "routing-strategy": "pd",
        });
        expect(prefill.seen).toHaveLength(1);
        expect(bodyOf(decision)?.["kv_transfer_params"]).toEqual({ ...KV_PARAMS, remote_host: "127.0.0.1" });
        s.end();
      },
    );
  });

  it("no complete roleset (its prefill pod down): the decode pod prefills, a counted no-prefill-pod fallback", async () => {
    await withFleet(
      (p) => (p.name === "p-a" ? { ...p, ready: false } : p),
      async () => {
        const [decision, rh] = await routeLong();
        expect(setHeaders(decision)["target-pod"]).toBe("127.0.0.2:8000");
        expect(setHeaders(rh)["x-kvroute-pd-fallback"]).toBe("no-prefill-pod");
        // The other roleset's prefill pod is never borrowed.
        expect(lonePrefill.seen).toHaveLength(0);
      },
    );
  });

  it("SGLang: both requests carry the bootstrap host, port and room; the decode does not wait", async () => {
    prefill.mode = "hang";
    const closedBefore = prefill.closedCount;
    await withFleet(
      (p) => ({ ...p, engine: "sglang" }),
      async () => {
        const [decision, rh] = await routeLong();
        await prefill.received(1);
        const decode = bodyOf(decision);
        const bootstrap = {
          bootstrap_host: "127.0.0.1",
          bootstrap_port: 8998,
          bootstrap_room: decode?.["bootstrap_room"],
        };
        expect(Number.isSafeInteger(bootstrap.bootstrap_room)).toBe(true);
        expect(decode).toEqual({ ...(JSON.parse(chatBody("m1", LONG)) as object), ...bootstrap });
        expect(prefill.seen[0]?.body).toMatchObject({ ...bootstrap, max_tokens: 1, stream: false });
        expect(setHeaders(rh)["prefill-target-pod"]).toBe("p-a");
        // The prefill ran alongside; the stream's end cancels it (nothing lingers into the next test).
        await prefill.closed(closedBefore + 1);
      },
    );
  });

  it("a cancelled stream aborts its prefill request and holds no load", async () => {
    prefill.mode = "hang";
    const timeouts = await metricValue(h, "kvroute_pd_prefill_skipped_total", { reason: "prefill-timeout" });
    const s = h.client.open();
    await s.exchange(headers({ ...PD, "x-request-id": "pd-cancel" }));
    s.send(body(chatBody("m1", LONG)));
    await prefill.received(1);
    // Prefill first: during the hop the prefill pod holds the prompt's tokens, and no decode pod is picked yet.
    expect(h.server.load.get(keyOf("p-a")).requests).toBe(1);
    expect(h.server.load.get(keyOf("p-a")).tokens).toBeGreaterThan(20);
    expect(h.server.load.get(keyOf("d-a")).requests).toBe(0);
    const closed = prefill.closed(prefill.closedCount + 1);
    s.cancel();
    await closed;
    // Closed by the cancel, not by the timeout (which would have counted a fallback before closing the socket).
    expect(await metricValue(h, "kvroute_pd_prefill_skipped_total", { reason: "prefill-timeout" })).toBe(
      timeouts,
    );
    expect(await finishedLine(h, { requestId: "pd-cancel" })).toMatchObject({ outcome: "cancelled" });
    // The prefill reservation goes back as the aborted hop unwinds, a few turns after the close.
    await until(() => h.server.load.totalRequests() === 0);
  });
});
