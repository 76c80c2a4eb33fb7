/**
 * The end-to-end driver against a real kvroute (in-process, loopback gRPC) and real HTTP pods on loopback.
 */
import { EnvoyDriver } from "../../bench/e2e/envoy-driver";
import type { RequestBodyMode, ResponseBodyMode } from "../../bench/e2e/envoy-driver";
import { ReplicatedDriver } from "../../bench/e2e/replicated-driver";
import { requestBody, runWorkload } from "../../bench/e2e/run-workload";
import { sharedPrefixWorkload } from "../../bench/e2e/workloads";
import { pod, startHarness } from "../extproc/harness";
import type { Harness } from "../extproc/harness";
import { startSsePods } from "./sse-pods";
import type { SsePods } from "./sse-pods";

const chat = (model: string, content: string, maxTokens = 4): string =>
  JSON.stringify({
    model,
    messages: [{ role: "user", content }],
    max_tokens: maxTokens,
    stream: true,
    stream_options: { include_usage: true },
  });

describe("EnvoyDriver against kvroute", () => {
  let pods: SsePods;
  let h: Harness;
  let addresses: string[];

  beforeAll(async () => {
    pods = await startSsePods(3);
    addresses = pods.ports.map((p) => `127.0.0.1:${p}`);
    h = await startHarness(pods.ports.map((p, i) => pod(`p${i}`, "127.0.0.1", ["m1"], true, p)));
  });
  afterAll(async () => {
    await h.close();
    await pods.close();
  });
  afterEach(() => {
    pods.received.length = 0;
    pods.failWith(undefined);
  });

  const driver = (req: RequestBodyMode, res: ResponseBodyMode = "STREAMED", chunk = 16): EnvoyDriver =>
    new EnvoyDriver({
      extProcAddress: `127.0.0.1:${h.server.grpcPort}`,
      requestBodyMode: req,
      responseBodyMode: res,
      // Small chunks so the streamed modes really send several body messages.
      bodyChunkBytes: chunk,
    });

  it.each<[RequestBodyMode, ResponseBodyMode]>([
    ["BUFFERED", "STREAMED"],
    ["BUFFERED", "NONE"],
    ["BUFFERED", "BUFFERED"],
    ["STREAMED", "STREAMED"],
    ["STREAMED_NO_WAIT", "STREAMED"],
    ["FULL_DUPLEX_STREAMED", "FULL_DUPLEX_STREAMED"],
  ])(
    "%s / %s: reaches the chosen pod, times TTFT, reads usage, releases the load",
    async (reqMode, resMode) => {
      const d = driver(reqMode, resMode);
      try {
        const body = chat("m1", "tell me about rivers and mountains", 5);
        const r = await d.send({ path: "/v1/chat/completions", body, requestId: `id-${reqMode}-${resMode}` });
        expect(r).toMatchObject({ ok: true, status: 200, outputTokens: 5, promptTokens: body.length });
        expect(addresses).toContain(r.pod);
        // Exactly one pod got the request: the one kvroute chose, with the body unchanged and the decision headers.
        expect(pods.received).toHaveLength(1);
        const got = pods.received[0];
        expect(`127.0.0.1:${got?.port}`).toBe(r.pod);
        expect(got?.body).toBe(body);
        expect(got?.headers["target-pod"]).toBe(r.pod);
        expect(got?.headers["x-request-id"]).toBe(`id-${reqMode}-${resMode}`);
        expect(r.ttftMs).toBeGreaterThan(0);
        expect(r.decisionMs).toBeLessThanOrEqual(r.ttftMs ?? 0);
        expect(r.ttftMs).toBeLessThan(r.e2eMs);
        expect(r.cachedTokens).toBe(Math.floor(body.length / 2));
        expect(h.server.load.totalRequests()).toBe(0);
      } finally {
        d.close();
      }
    },
  );

  it("an unknown model is kvroute's 400 immediate response, recorded, and nothing reaches a pod", async () => {
    const d = driver("BUFFERED");
    try {
      const r = await d.send({ path: "/v1/chat/completions", body: chat("nope", "hi") });
      expect(r).toMatchObject({ ok: false, errorKind: "immediate_response", status: 400 });
      expect(r.errorMessage).toContain("nope");
      expect(r.pod).toBeUndefined();
      expect(pods.received).toHaveLength(0);
      expect(h.server.load.totalRequests()).toBe(0);
    } finally {
      d.close();
    }
  });

  it("STREAMED without allow_mode_override: a decision in a body reply cannot route, as in Envoy", async () => {
    const d = new EnvoyDriver({
      extProcAddress: `127.0.0.1:${h.server.grpcPort}`,
      requestBodyMode: "STREAMED",
      allowModeOverride: false,
    });
    try {
      const r = await d.send({ path: "/v1/chat/completions", body: chat("m1", "hi") });
      expect(r).toMatchObject({ ok: false, errorKind: "no_route", status: 503 });
      expect(pods.received).toHaveLength(0);
      for (let i = 0; i < 50 && h.server.load.totalRequests() > 0; i++)
        await new Promise((res) => setTimeout(res, 10));
      expect(h.server.load.totalRequests()).toBe(0);
    } finally {
      d.close();
    }
  });

  it("an upstream 500 goes through the response phases and is recorded", async () => {
    pods.failWith(500);
    const d = driver("FULL_DUPLEX_STREAMED", "FULL_DUPLEX_STREAMED");
    try {
      const r = await d.send({ path: "/v1/chat/completions", body: chat("m1", "hi") });
      expect(r).toMatchObject({ ok: false, errorKind: "upstream_status", status: 500 });
      expect(r.errorMessage).toContain("injected failure");
      expect(addresses).toContain(r.pod);
      expect(h.server.load.totalRequests()).toBe(0);
    } finally {
      d.close();
    }
  });

  it("a pod that is down is an upstream_connect error, and kvroute is unreachable an extproc_error", async () => {
    const gone = await startSsePods(1);
    const port = gone.ports[0] ?? 0;
    await gone.close();
    h.cluster.replace([pod("dead", "127.0.0.1", ["m1"], true, port)]);
    const d = driver("BUFFERED");
    try {
      const r = await d.send({ path: "/v1/chat/completions", body: chat("m1", "hi") });
      expect(r).toMatchObject({
        ok: false,
        errorKind: "upstream_connect",
        status: 503,
        pod: `127.0.0.1:${port}`,
      });
    } finally {
      d.close();
      h.cluster.replace(pods.ports.map((p, i) => pod(`p${i}`, "127.0.0.1", ["m1"], true, p)));
    }
    const nowhere = new EnvoyDriver({ extProcAddress: `127.0.0.1:${port}`, messageTimeoutMs: 2000 });
    try {
      const r = await nowhere.send({ path: "/v1/chat/completions", body: chat("m1", "hi") });
      expect(r).toMatchObject({ ok: false, errorKind: "extproc_error", status: 503 });
    } finally {
      nowhere.close();
    }
  });

  // The routing benchmark's --router-replicas (test/bench-e2e/routing-bench.test.ts runs one kvroute child).
  it("ReplicatedDriver takes turns over its kvroute replicas, each routing with its own pods", async () => {
    const [p0, p1, p2] = pods.ports.map((p, i) => pod(`p${i}`, "127.0.0.1", ["m1"], true, p));
    if (p0 === undefined || p1 === undefined || p2 === undefined) throw new Error("three pods expected");
    // The first replica knows p0 and p1, the second only p2: the pod a request reached names its replica.
    const second = await startHarness([p2]);
    h.cluster.replace([p0, p1]);
    const d = new ReplicatedDriver([`127.0.0.1:${h.server.grpcPort}`, `127.0.0.1:${second.server.grpcPort}`]);
    try {
      const results = [];
      for (let i = 0; i < 4; i++)
        results.push(await d.send({ path: "/v1/chat/completions", body: chat("m1", `question ${i}`) }));
      expect(results.map((r) => r.ok)).toEqual([true, true, true, true]);
      expect(results.map((r) => r.pod === addresses[2])).toEqual([false, true, false, true]);
      expect(d.perReplica()).toEqual([2, 2]);
      expect([h.server.load.totalRequests(), second.server.load.totalRequests()]).toEqual([0, 0]);
    } finally {
      d.close();
      h.cluster.replace([p0, p1, p2]);
      await second.close();
    }
  });

  it("runWorkload: a small shared-prefix run, open loop, summarized", async () => {
    const w = sharedPrefixWorkload({
      rate: 200,
      numGroups: 3,
      promptsPerGroup: 4,
      systemPromptTokens: 64,
      questionTokens: 8,
      outputTokens: 4,
    });
    const seen: number[] = [];
    const { records, summary } = await runWorkload(w, {
      driver: { extProcAddress: `127.0.0.1:${h.server.grpcPort}` },
      model: "m1",
      maxConcurrency: 4,
      pods: addresses,
      onRecord: (_r, done) => seen.push(done),
    });
    expect(records).toHaveLength(12);
    expect(seen).toEqual(Array.from({ length: 12 }, (_, i) => i + 1));
    expect(summary).toMatchObject({ requests: 12, succeeded: 12, errors: {}, outputTokens: 48 });
    expect(Object.values(summary.perPod).reduce((a, b) => a + b, 0)).toBe(12);
    expect(Object.keys(summary.perPod).sort()).toEqual([...addresses].sort());
    expect(summary.ttftMs.count).toBe(12);
    expect(summary.ttftMs.p50).toBeGreaterThan(0);
    expect(summary.e2eMs.p99).toBeGreaterThanOrEqual(summary.e2eMs.p50);
    expect(summary.prefixCacheHitRate).toBeCloseTo(0.5, 1);
    expect(summary.loadSpreadCv).toBeGreaterThanOrEqual(0);
    // Each pod saw the request the workload built, ignore_eos included.
    const bodies = new Set(pods.received.map((p) => p.body));
    for (const r of w.requests) expect(bodies).toContain(requestBody(r, "m1").body);
    expect(h.server.load.totalRequests()).toBe(0);
  });
});
