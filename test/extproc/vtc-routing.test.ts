/**
 * End to end: `vtc-basic` through the real gRPC server. A request with a `user` header is routed by the strategy;
 * the usage the response reports replaces the routing-time estimate, which moves a heavy user to another pod; a
 * request without `user` falls back to least-request, counted and logged.
 */
import type { Pod } from "../../src/cluster/pod";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  pod,
  responseBody,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";
import { finishedLine } from "./harness-probes";
import type { Harness } from "./harness";

const usage = (prompt: number, completion: number): string =>
  JSON.stringify({ usage: { prompt_tokens: prompt, completion_tokens: completion } });

describe("vtc-basic through the server", () => {
  let pods: Pod[];
  let h: Harness;

  beforeAll(async () => {
    pods = [0, 1, 2].map((i) => pod(`p${i}`, `10.1.0.${i + 1}`, ["m1"]));
    h = await startHarness(pods, ["--vtc-utilization-weight", "0"]);
  });
  afterAll(async () => {
    await h.close();
  });

  /** One whole exchange; returns the chosen pod's address. */
  async function conversation(extra: Record<string, string>, reported?: string): Promise<string> {
    const s = h.client.open();
    await s.exchange(headers({ ...CHAT_HEADERS, "routing-strategy": "vtc-basic", ...extra }));
    const [r] = await s.exchange(body(chatBody("m1")));
    await s.exchange(responseHeaders(200));
    await s.exchange(responseBody(reported ?? usage(2, 2), true));
    s.end();
    await s.status;
    return setHeaders(r)["target-pod"] ?? "";
  }

  it("routes users by their tokens, with the reported usage replacing the estimate", async () => {
    // Fresh users sit at position 0: the first pod by key.
    expect(await conversation({ user: "light" }, usage(5, 5))).toBe(pods[0]?.address);
    expect(await conversation({ user: "heavy" }, usage(10, 50_000))).toBe(pods[0]?.address);
    // heavy now holds 100010 tokens against light's 15: position 2·max/(min + max) ≈ 2, the last pod. Had the
    // estimate (a few tokens) been kept, heavy would still sit at position 0.
    expect(await conversation({ user: "heavy" })).toBe(pods[2]?.address);
    expect(await conversation({ user: "light" })).toBe(pods[0]?.address);
    const line = await finishedLine(h, { strategy: "vtc-basic" });
    expect(line["fallbackReason"]).toBeUndefined();
  });

  it("without a user header, falls back to least-request and counts it", async () => {
    expect(pods.map((p) => p.address)).toContain(await conversation({}));
    const line = await h.log.waitFor(
      (l) => l["msg"] === "request finished" && l["fallbackReason"] !== undefined,
    );
    expect(line).toMatchObject({
      strategy: "vtc-basic",
      fallbackReason: "no-user",
      fallbackTo: "least-request",
    });
    const fallbacks = await h.server.metrics.registry.getSingleMetricAsString(
      "kvroute_routing_fallback_total",
    );
    expect(fallbacks).toMatch(/strategy="vtc-basic",reason="no-user"} 1/);
  });
});
