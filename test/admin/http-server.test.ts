/**
 * The HTTP port over real loopback: metrics, models, health, readiness and the debug state.
 */
import { CHAT_HEADERS, body, chatBody, headers, pod, startHarness } from "../extproc/harness";
import type { Harness } from "../extproc/harness";

const PODS = [
  pod("p1", "10.0.0.1", ["m1", "lora-a"]),
  pod("p2", "10.0.0.2", ["m1"]),
  pod("p3", "10.0.0.3", ["m2"], false),
];

describe("admin HTTP", () => {
  let h: Harness;
  let base: string;
  beforeAll(async () => {
    h = await startHarness(PODS);
    base = `http://127.0.0.1:${h.server.httpPort}`;
  });
  afterAll(async () => {
    await h.close();
  });

  it("/v1/models lists every model in AIBrix's format", async () => {
    const res = await fetch(`${base}/v1/models`);
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      object: "list",
      data: ["lora-a", "m1", "m2"].map((id) => ({ id, object: "model", created: 0, owned_by: "aibrix" })),
    });
  });

  it("/v1/models rejects other methods with 405", async () => {
    const res = await fetch(`${base}/v1/models`, { method: "POST" });
    expect(res.status).toBe(405);
    expect(await res.json()).toEqual({ error: "method not allowed" });
  });

  it("/healthz and /readyz", async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    expect((await fetch(`${base}/nope`)).status).toBe(404);
  });

  it("/debug/state shows pods, models and in-flight work; /metrics shows requests, decisions, in-flight", async () => {
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    await s.exchange(body(chatBody("m1", "x".repeat(400))));
    const state = (await (await fetch(`${base}/debug/state`)).json()) as {
      loaded: boolean;
      ready: boolean;
      inflightTotal: number;
      models: Record<string, string[]>;
      pods: { name: string; ready: boolean; inflight: { requests: number; tokens: number } }[];
      routing: { defaultStrategy: string; strategies: string[] };
    };
    expect(state).toMatchObject({ loaded: true, ready: true, inflightTotal: 1 });
    expect(state.models).toEqual({ "lora-a": ["p1"], m1: ["p1", "p2"], m2: ["p3"] });
    const busy = state.pods.filter((p) => p.inflight.requests === 1);
    expect(busy).toHaveLength(1);
    expect(busy[0]?.inflight.tokens).toBe(100); // 400 characters ≈ 100 tokens
    expect(state.pods.find((p) => p.name === "p3")?.ready).toBe(false);
    expect(state.routing.defaultStrategy).toBe("least-request");
    expect(state.routing.strategies).toEqual(
      expect.arrayContaining(["random", "least-request", "power-of-two", "session-affinity"]),
    );

    const metrics = await (await fetch(`${base}/metrics`)).text();
    expect(metrics).toMatch(new RegExp(`kvroute_inflight_requests{pod="${busy[0]?.name}"} 1`));
    expect(metrics).toMatch(/kvroute_decision_duration_seconds_count{strategy="least-request"} 1/);
    expect(metrics).toMatch(/kvroute_pods{model="m2",ready="false"} 1/);
    s.end();
    await s.status;
    const after = await (await fetch(`${base}/metrics`)).text();
    // Ended before the response: counted under its outcome, never as status 0.
    expect(after).toMatch(/kvroute_requests_total{model="m1",strategy="least-request",status="cancelled"} 1/);
    expect(after).not.toMatch(/kvroute_inflight_requests{/);
  });
});
