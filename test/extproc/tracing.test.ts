/**
 * OpenTelemetry tracing through a real kvroute over gRPC, exporting to an in-process OTLP/HTTP receiver on
 * loopback: a request with a W3C `traceparent` becomes a `kvroute.request` span under that parent with its phases as
 * children; tracing off exports nothing; a dead collector loses only the spans, counted. Every wait is for the
 * receiver's request or a log line, never a sleep.
 */
import { randomBytes } from "node:crypto";
import type { AddressInfo } from "node:net";
import {
  body,
  chatBody,
  headers,
  pod,
  responseBody,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";
import type { Harness } from "./harness";
import { finishedLine, metricValue } from "./harness-probes";
import { occupy, release } from "../support/occupy-port";
import { startOtlpReceiver } from "../support/otlp-receiver";
import type { OtlpReceiver, ReceivedSpan } from "../support/otlp-receiver";

const PODS = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];
const USAGE = '{"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}}';
/** Long enough for many prefix blocks whatever the block size. */
const PROMPT = Array.from({ length: 400 }, (_, i) => `word${i}`).join(" ");
/** The batch processor exports 10 ms after a span ends (its 2 s default would only slow the test). */
const FAST_BATCH = { scheduledDelayMs: 10, exportTimeoutMs: 10_000 };

const hex = (bytes: number): string => randomBytes(bytes).toString("hex");

/** A fresh sampled W3C trace context. */
function traceContext(): { traceId: string; parentId: string; traceparent: string } {
  const traceId = hex(16);
  const parentId = hex(8);
  return { traceId, parentId, traceparent: `00-${traceId}-${parentId}-01` };
}

/** Route one chat request with `extra` headers and complete its response with 200 and usage. */
async function routeAndFinish(h: Harness, extra: Record<string, string>): Promise<string> {
  const id = `r-${hex(6)}`;
  const s = h.client.open();
  await s.exchange(
    headers({ ":method": "POST", ":path": "/v1/chat/completions", "x-request-id": id, ...extra }),
  );
  const [decision] = await s.exchange(body(chatBody("m1", PROMPT)));
  const target = setHeaders(decision)["target-pod"] ?? "";
  await s.exchange(responseHeaders(200, { "content-type": "application/json" }));
  await s.exchange(responseBody(USAGE, true));
  s.end();
  await finishedLine(h, { requestId: id });
  return target;
}

/** The spans of trace `traceId`, once its root has arrived with `children` children. */
async function traceOf(r: OtlpReceiver, traceId: string, children: number): Promise<ReceivedSpan[]> {
  const of = (spans: readonly ReceivedSpan[]): ReceivedSpan[] => spans.filter((s) => s.traceId === traceId);
  const all = await r.waitFor((spans) => {
    const mine = of(spans);
    const root = mine.find((s) => s.name === "kvroute.request");
    return root !== undefined && mine.filter((s) => s.parentSpanId === root.spanId).length >= children;
  });
  return of(all);
}

describe("tracing on: spans reach the OTLP receiver", () => {
  let receiver: OtlpReceiver;
  let h: Harness;
  beforeAll(async () => {
    receiver = await startOtlpReceiver();
    // Ratio 0: only a client's sampled traceparent is traced (parent-based sampling).
    h = await startHarness(
      PODS,
      ["--otlp-endpoint", receiver.url, "--trace-sample-ratio", "0", "--log-level", "info"],
      { OTEL_SERVICE_NAME: "kvroute-test" },
      { traceBatch: FAST_BATCH },
    );
  });
  afterAll(async () => {
    await h.close();
    await receiver.close();
  });

  it("a request with a traceparent is a child of it, with parse, tokenize, pick and response spans", async () => {
    const strategy = { "routing-strategy": "prefix-cache" };
    const first = traceContext();
    await routeAndFinish(h, { ...strategy, traceparent: first.traceparent });
    const ctx = traceContext();
    const target = await routeAndFinish(h, { ...strategy, traceparent: ctx.traceparent, tracestate: "k=v" });

    const spans = await traceOf(receiver, ctx.traceId, 4);
    const root = spans.find((s) => s.name === "kvroute.request")!;
    expect(root.parentSpanId).toBe(ctx.parentId);
    expect(root.kind).toBe(2); // SERVER
    expect(root.serviceName).toBe("kvroute-test");
    const pickedPod = PODS.find((p) => p.address === target)!;
    expect(root.attributes).toMatchObject({
      "kvroute.model": "m1",
      "kvroute.strategy": "prefix-cache",
      "kvroute.pod": pickedPod.name,
      "kvroute.outcome": "success",
      "http.response.status_code": 200,
    });
    // The second request of the same prompt finds all of it on the pod the first went to.
    const blocks = root.attributes["kvroute.prefix.hit_blocks"];
    expect(blocks).toBeGreaterThan(0);
    expect(root.attributes["kvroute.prefix.prompt_blocks"]).toBe(blocks);
    expect(root.attributes["kvroute.prefix.hit_ratio"]).toBe(1);

    const children = spans.filter((s) => s.parentSpanId === root.spanId);
    expect(children.map((s) => s.name).sort()).toEqual(
      ["kvroute.parse", "kvroute.pick", "kvroute.response", "kvroute.tokenize"].sort(),
    );
    for (const c of children) {
      expect(c.startNs).toBeGreaterThanOrEqual(root.startNs);
      expect(c.endNs).toBeLessThanOrEqual(root.endNs);
      expect(c.endNs).toBeGreaterThanOrEqual(c.startNs);
    }
    const response = children.find((s) => s.name === "kvroute.response")!;
    expect(response.attributes["http.response.status_code"]).toBe(200);
    expect(children.find((s) => s.name === "kvroute.pick")?.attributes["kvroute.pod"]).toBe(pickedPod.name);

    // The first request found no prefix anywhere: its trace says so, with the fallback reason.
    const firstRoot = (await traceOf(receiver, first.traceId, 4)).find((s) => s.name === "kvroute.request")!;
    expect(firstRoot.attributes).toMatchObject({
      "kvroute.prefix.hit_blocks": 0,
      "kvroute.fallback.reason": "no-prefix-match",
    });
  });

  it("an unsampled traceparent (ratio 0, no sampled flag) exports nothing for its request", async () => {
    const ctx = traceContext();
    await routeAndFinish(h, { traceparent: `00-${ctx.traceId}-${ctx.parentId}-00` });
    // A sampled request sent after it is exported; the batch holds both if the first had been recorded.
    const after = traceContext();
    await routeAndFinish(h, { traceparent: after.traceparent });
    await traceOf(receiver, after.traceId, 3);
    expect(receiver.spans.filter((s) => s.traceId === ctx.traceId)).toEqual([]);
  });

  it("a request rejected after its headers is traced with its status and error code", async () => {
    const ctx = traceContext();
    const s = h.client.open();
    await s.exchange(
      headers({ ":method": "POST", ":path": "/v1/chat/completions", traceparent: ctx.traceparent }),
    );
    await s.exchange(body(chatBody("no-such-model")));
    s.end();
    const spans = await traceOf(receiver, ctx.traceId, 1);
    const root = spans.find((x) => x.name === "kvroute.request")!;
    expect(root.attributes).toMatchObject({
      "kvroute.model": "no-such-model",
      "kvroute.outcome": "rejected",
      "http.response.status_code": 400,
    });
    expect(root.attributes["kvroute.error.code"]).toBeDefined();
    expect(spans.map((x) => x.name)).toContain("kvroute.parse");
  });
});

describe("tracing off", () => {
  it("exports nothing and registers no trace metric", async () => {
    const receiver = await startOtlpReceiver();
    const h = await startHarness(PODS, ["--log-level", "info"], {}, { traceBatch: FAST_BATCH });
    try {
      const ctx = traceContext();
      await routeAndFinish(h, { traceparent: ctx.traceparent });
      expect(h.server.metrics.registry.getSingleMetric("kvroute_trace_spans_dropped_total")).toBeUndefined();
    } finally {
      // A drain flushes a tracer's queue: once it is over, anything that was going to be exported has been.
      await h.close();
    }
    expect(receiver.requests()).toBe(0);
    await receiver.close();
  });
});

describe("tracing with the collector down", () => {
  it("routes every request, counts the lost spans and logs the failure once", async () => {
    // A port nothing listens on: taken and released, so connecting is refused.
    const probe = await occupy(0);
    const { port } = probe.address() as AddressInfo;
    await release(probe);
    const h = await startHarness(
      PODS,
      [
        "--otlp-endpoint",
        `http://127.0.0.1:${port}/v1/traces`,
        "--trace-sample-ratio",
        "1",
        "--log-level",
        "info",
      ],
      {},
      // A short export deadline: a refused connection is not retried past it.
      { traceBatch: { scheduledDelayMs: 10, exportTimeoutMs: 200 } },
    );
    try {
      const targets = [await routeAndFinish(h, {}), await routeAndFinish(h, {})];
      expect(targets.every((t) => PODS.some((p) => p.address === t))).toBe(true);
      const failing = await h.log.waitFor(
        (l) => l["msg"] === "trace export failing: spans are dropped until it recovers",
      );
      expect(String(failing["error"])).toMatch(/ECONNREFUSED/);
      expect(
        await metricValue(h, "kvroute_trace_spans_dropped_total", { reason: "export-failed" }),
      ).toBeGreaterThan(0);
      expect(h.log.lines.filter((l) => String(l["msg"]).startsWith("trace export failing"))).toHaveLength(1);
    } finally {
      await h.close();
    }
  });
});
