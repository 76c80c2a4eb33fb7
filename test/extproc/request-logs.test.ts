/**
 * The request lines through a real kvroute over gRPC, read from the server's logger sink: level names, durations
 * rounded to 0.01 ms, `--log-requests` choosing info or debug for them, the decision's prefix lookup in blocks, and a
 * request whose stream ends before its decision or before its response logged and counted as `cancelled` with the
 * close reason, never as status 0.
 */
import * as grpc from "@grpc/grpc-js";
import { CHAT_HEADERS, headers, pod, responseHeaders, startHarness } from "./harness";
import type { Harness } from "./harness";
import { finishedLine, metricValue } from "./harness-probes";
import { decide, targetOf } from "./request-phase";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];

/** Whether `ms` carries at most two decimals (0.01 ms). */
const roundedToHundredths = (ms: unknown): boolean =>
  typeof ms === "number" && Math.abs(Math.round(ms * 100) - ms * 100) < 1e-6;

/** Label values of `status` in `kvroute_requests_total`. */
async function statusLabels(h: Harness): Promise<string[]> {
  const m = await h.server.metrics.registry.getSingleMetric("kvroute_requests_total")?.get();
  return (m?.values ?? []).map((v) => String(v.labels["status"]));
}

describe("request log lines", () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it("without --log-requests: the request line is written at debug, level named, durations rounded", async () => {
    h = await startHarness(PODS);
    const s = h.client.open();
    expect(targetOf(await decide(s))).not.toBe("");
    await s.exchange(responseHeaders(200, {}, true));
    s.end();
    const line = await finishedLine(h, { outcome: "success" });
    expect(line).toMatchObject({ level: "debug", status: 200, model: "m1" });
    for (const f of ["decisionMs", "totalMs"]) expect(roundedToHundredths(line[f])).toBe(true);
    expect(line["closeReason"]).toBeUndefined();
    // Every line carries its level as a name.
    for (const l of h.log.lines) expect(typeof l["level"]).toBe("string");
  });

  it("with --log-requests: the request line is written at info", async () => {
    h = await startHarness(PODS, ["--log-requests"]);
    const s = h.client.open();
    await decide(s);
    await s.exchange(responseHeaders(200, {}, true));
    s.end();
    expect(await finishedLine(h, { outcome: "success" })).toMatchObject({ level: "info", status: 200 });
  });

  it("carries the decision's prefix lookup in blocks when a strategy looked one up, and only then", async () => {
    h = await startHarness(PODS, ["--log-requests"]);
    const prompt = "a prompt of several blocks ".repeat(8);
    for (const [id, strategy] of [
      ["lr", "least-request"],
      ["pc", "prefix-cache"],
    ] as const) {
      const s = h.client.open();
      await decide(s, { headers: { "x-request-id": id, "routing-strategy": strategy }, prompt });
      await s.exchange(responseHeaders(200, {}, true));
      s.end();
    }
    const plain = await finishedLine(h, { requestId: "lr" });
    expect(plain["prefixLookupBlocks"]).toBeUndefined();
    const looked = await finishedLine(h, { requestId: "pc" });
    expect(looked).toMatchObject({ prefixHitBlocks: 0, prefixLookupBlocks: expect.any(Number) });
    expect(looked["prefixLookupBlocks"]).toBeGreaterThan(0);
  });

  it("a stream cancelled before its decision is logged and counted as cancelled, with the close reason", async () => {
    h = await startHarness(PODS, ["--log-requests"]);
    const s = h.client.open();
    await s.exchange(headers(CHAT_HEADERS));
    s.cancel();
    expect((await s.status).code).toBe(grpc.status.CANCELLED);
    const line = await finishedLine(h, { outcome: "cancelled" });
    expect(line["level"]).toBe("info");
    // Whether the server sees a cancel as RST_STREAM or as the end of the stream is a transport detail.
    expect(["cancelled", "client-ended"]).toContain(line["closeReason"]);
    expect(line["status"]).toBeUndefined();
    expect(line["pod"]).toBeUndefined();
    expect(roundedToHundredths(line["totalMs"])).toBe(true);
    expect(await metricValue(h, "kvroute_request_completions_total", { outcome: "cancelled" })).toBe(1);
    expect(await metricValue(h, "kvroute_requests_total", { status: "cancelled" })).toBe(1);
    expect(await statusLabels(h)).not.toContain("0");
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("a stream ended after its decision, before the response, is cancelled too: no status 0 anywhere", async () => {
    h = await startHarness(PODS, ["--log-requests"]);
    const s = h.client.open();
    const target = targetOf(await decide(s));
    expect(target).not.toBe("");
    // Envoy half-closes the side stream when the downstream request went away before the upstream answered.
    s.end();
    const line = await finishedLine(h, { outcome: "cancelled" });
    expect(line).toMatchObject({ closeReason: "client-ended", strategy: "least-request" });
    expect(line["status"]).toBeUndefined();
    expect(roundedToHundredths(line["decisionMs"])).toBe(true);
    expect(await metricValue(h, "kvroute_requests_total", { status: "cancelled", model: "m1" })).toBe(1);
    expect(await statusLabels(h)).not.toContain("0");
    // The pick was given back.
    expect(h.server.load.totalRequests()).toBe(0);
  });
});
