/**
 * Load accounting across many streams, cancels and shutdown; health and readiness.
 */
import * as grpc from "@grpc/grpc-js";
import { healthClient } from "../support/health-client";
import { CHAT_HEADERS, headers, pod, responseBody, responseHeaders, startHarness } from "./harness";
import { finishedLine } from "./harness-probes";
import { decide, targetOf } from "./request-phase";
import type { ExtProcStream, Harness } from "./harness";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"]), pod("p3", "10.0.0.3", ["m1"])];

async function routed(s: ExtProcStream, extra: Record<string, string> = {}): Promise<string> {
  return targetOf(await decide(s, { headers: extra }));
}

describe("load accounting", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(PODS);
  });
  afterEach(async () => {
    await h.close();
  });

  it("waves of concurrent streams spread evenly across pods and leave every in-flight count at zero", async () => {
    // least-request reserves at decision time, so simultaneous decisions cannot pile onto one pod: after each wave
    // of 15 concurrent decisions (nothing released yet) every pod holds exactly 5 more. Were the reservation
    // missing, every decision would see three idle pods and break the tie at random: a wave lands 5/5/5 by chance
    // with probability 0.053, all four waves with 8e-6 (one wave of 200 landed 66/67/67 with 0.012), for 60 streams.
    const WAVES = 4;
    const WAVE = 15;
    const streams: ExtProcStream[] = [];
    const perPod = new Map<string, number>();
    for (let wave = 1; wave <= WAVES; wave++) {
      const opened = Array.from({ length: WAVE }, () => h.client.open());
      streams.push(...opened);
      for (const t of await Promise.all(opened.map((s) => routed(s))))
        perPod.set(t, (perPod.get(t) ?? 0) + 1);
      expect({ wave, perPod: [...perPod.values()] }).toEqual({
        wave,
        perPod: [5 * wave, 5 * wave, 5 * wave],
      });
      expect(h.server.load.totalRequests()).toBe(WAVE * wave);
    }
    await Promise.all(
      streams.map(async (s) => {
        await s.exchange(responseHeaders(200));
        await s.exchange(
          responseBody('{"usage":{"prompt_tokens":1,"completion_tokens":1,"total_tokens":2}}', true),
        );
        s.end();
        await s.status;
      }),
    );
    expect(h.server.load.totalRequests()).toBe(0);
    expect([...h.server.load.entries()]).toEqual([]);
  });

  it("a client cancel mid-response releases the pod", async () => {
    const s = h.client.open();
    await routed(s);
    await s.exchange(responseHeaders(200));
    await s.exchange(responseBody("data: {}\n\n", false));
    expect(h.server.load.totalRequests()).toBe(1);
    s.cancel();
    const line = await finishedLine(h);
    expect(line["outcome"]).toBe("cancelled");
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("a half-close mid-response releases the pod once", async () => {
    const s = h.client.open();
    await routed(s);
    await s.exchange(responseHeaders(200));
    s.end();
    await s.status;
    const line = await finishedLine(h);
    expect(line["outcome"]).toBe("cancelled");
    expect(h.server.load.totalRequests()).toBe(0);
    const completions = await h.server.metrics.registry.getSingleMetricAsString(
      "kvroute_request_completions_total",
    );
    expect(completions).toMatch(/outcome="cancelled"} 1$/m);
  });
});

describe("health and shutdown", () => {
  it("readiness follows pod loading; liveness is SERVING from the start", async () => {
    const h = await startHarness(undefined);
    const health = healthClient(h.server.grpcPort);
    try {
      expect(await health.check("")).toBe("SERVING");
      expect(await health.check("liveness")).toBe("SERVING");
      expect(await health.check("readiness")).toBe("NOT_SERVING");
      expect(await health.check("envoy.service.ext_proc.v3.ExternalProcessor")).toBe("NOT_SERVING");
      const notReady = await fetch(`http://127.0.0.1:${h.server.httpPort}/readyz`);
      expect(notReady.status).toBe(503);
      h.cluster.replace(PODS);
      expect(await health.check("readiness")).toBe("SERVING");
      expect(await health.check("envoy.service.ext_proc.v3.ExternalProcessor")).toBe("SERVING");
      expect((await fetch(`http://127.0.0.1:${h.server.httpPort}/readyz`)).status).toBe(200);
      await expect(health.check("no-such-service")).rejects.toMatchObject({ code: grpc.status.NOT_FOUND });
    } finally {
      health.close();
      await h.close();
    }
  });

  it("Watch streams readiness changes and List reports every service", async () => {
    const h = await startHarness(undefined);
    const health = healthClient(h.server.grpcPort);
    try {
      const watch = health.watch("readiness");
      const seen: string[] = [];
      const gotServing = new Promise<void>((resolve) =>
        watch.on("data", (m: { status: string }) => {
          seen.push(m.status);
          if (m.status === "SERVING") resolve();
          else h.cluster.replace(PODS);
        }),
      );
      watch.on("error", () => undefined);
      await gotServing;
      expect(seen).toEqual(["NOT_SERVING", "SERVING"]);
      watch.cancel();
      expect(await health.list()).toEqual({
        "": "SERVING",
        liveness: "SERVING",
        readiness: "SERVING",
        "envoy.service.ext_proc.v3.ExternalProcessor": "SERVING",
        "gateway-plugin": "SERVING",
        "inference-extension": "SERVING",
      });
    } finally {
      health.close();
      await h.close();
    }
  });

  it("drain lets an open stream finish within the deadline", async () => {
    const h = await startHarness(PODS);
    const s = h.client.open();
    await routed(s);
    let drained = false;
    const drain = h.server.drain(10_000).then(() => {
      drained = true;
    });
    expect(h.server.isReady()).toBe(false);
    expect((await fetch(`http://127.0.0.1:${h.server.httpPort}/readyz`)).status).toBe(503);
    // No new streams while draining.
    const late = h.client.open();
    late.send(headers(CHAT_HEADERS));
    expect((await late.status).code).toBe(grpc.status.UNAVAILABLE);
    await s.exchange(responseHeaders(200));
    await s.exchange(responseBody("{}", true));
    expect(drained).toBe(false);
    s.end();
    await drain;
    const line = await finishedLine(h);
    expect(line["outcome"]).toBe("success");
    expect(h.server.load.totalRequests()).toBe(0);
    h.client.close();
  });

  it("drain cuts streams still open at the deadline and records them as shutdown", async () => {
    const h = await startHarness(PODS);
    const s = h.client.open();
    await routed(s);
    await h.server.drain(100);
    const line = await finishedLine(h);
    expect(line["outcome"]).toBe("shutdown");
    expect(h.server.load.totalRequests()).toBe(0);
    expect((await s.status).code).not.toBe(0);
    h.client.close();
  });
});
