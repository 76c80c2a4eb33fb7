/**
 * The request-level histograms get what a client saw: time to first token at the first SSE data event (not at a
 * keep-alive comment, never for a JSON body), end-to-end duration, time per output token over the tokens after the
 * first, and the usage's token counts; failed requests record none of them. Driven through the real response
 * tracker and reporter with a clock the test sets, then read from the registry.
 */
import { createClusterStore } from "../../src/cluster/cluster-state";
import { createLoadTracker } from "../../src/cluster/load-tracker";
import { createRequestReporter } from "../../src/extproc/request-reporter";
import { createResponseTracker } from "../../src/extproc/response-phase";
import type { RoutedPick } from "../../src/extproc/session-deps";
import { createLogger } from "../../src/observability/logger";
import { createMetrics } from "../../src/observability/metrics";
import type { Metrics } from "../../src/observability/metrics";
import { makeRequest } from "../routing/pods";
import { pod, responseBody, responseHeaders } from "./harness";
import { Writable } from "node:stream";

const A = pod("a", "127.0.0.1", ["m1"], true, 18201);

function setup(): { metrics: Metrics; run: (stream: boolean, steps: readonly Step[]) => void } {
  const cluster = createClusterStore();
  cluster.replace([A]);
  const metrics = createMetrics(createLoadTracker(), cluster);
  const quiet = new Writable({ write: (_c, _e, cb) => cb() });
  const reporter = createRequestReporter(metrics, createLogger("info", quiet), (spec) => spec, {
    logRequests: true,
  });
  const pick: RoutedPick = {
    t: "routed",
    pod: A,
    strategy: "random",
    responseHeaders: [],
    release: () => undefined,
    moveTo: () => false,
    fallbacks: [],
  };
  const run = (stream: boolean, steps: readonly Step[]): void => {
    let t = 0;
    const tracker = createResponseTracker({
      requestId: "r",
      startedMs: 0,
      decidedMs: 10,
      request: makeRequest("m1", 10, { stream }),
      pick,
      responseMode: "STREAMED",
      maxResponseBufferBytes: 1 << 16,
      now: () => t,
      onFinished: reporter.sessionHooks.onFinished,
    });
    reporter.sessionHooks.onRouted?.("m1", pick);
    for (const [at, msg] of steps) {
      t = at;
      tracker.handle(msg, "response_headers" in msg ? "response_headers" : "response_body");
    }
  };
  return { metrics, run };
}

type Step = readonly [
  atMs: number,
  msg: ReturnType<typeof responseHeaders> | ReturnType<typeof responseBody>,
];

/** `{count, sum}` of a histogram's series for model m1 on pod a (zeros when it has none). */
async function observed(metrics: Metrics, name: string): Promise<{ count: number; sum: number }> {
  // prom-client names each histogram sample (`_bucket`, `_sum`, `_count`) in `metricName`, untyped.
  const values = ((await metrics.registry.getSingleMetric(name)?.get())?.values ?? []) as readonly {
    metricName?: string;
    labels: Record<string, string | number | undefined>;
    value: number;
  }[];
  const of = (suffix: string): number =>
    values.find(
      (v) => v.metricName === `${name}_${suffix}` && v.labels["pod"] === "a" && v.labels["model"] === "m1",
    )?.value ?? 0;
  return { count: of("count"), sum: Math.round(of("sum") * 1e6) / 1e6 };
}

const SSE = { "content-type": "text/event-stream" };
const usage = (completion: number): string =>
  `"usage":{"prompt_tokens":40,"completion_tokens":${completion},"total_tokens":${40 + completion}}`;

describe("request-level histograms", () => {
  it("streamed: TTFT at the first data event, TPOT over the tokens after it, duration and tokens", async () => {
    const { metrics, run } = setup();
    run(true, [
      [100, responseHeaders(200, SSE)],
      [150, responseBody(": keep-alive\n\n", false)],
      [250, responseBody('data: {"choices":[{"text":"a"}]}\n\n', false)],
      [450, responseBody(`data: {"choices":[],${usage(5)}}\n\ndata: [DONE]\n\n`, true)],
    ]);
    expect({
      ttft: await observed(metrics, "kvroute_time_to_first_token_seconds"),
      duration: await observed(metrics, "kvroute_request_duration_seconds"),
      tpot: await observed(metrics, "kvroute_time_per_output_token_seconds"),
      prompt: await observed(metrics, "kvroute_prompt_tokens"),
      completion: await observed(metrics, "kvroute_completion_tokens"),
    }).toEqual({
      ttft: { count: 1, sum: 0.25 },
      duration: { count: 1, sum: 0.45 },
      tpot: { count: 1, sum: 0.05 },
      prompt: { count: 1, sum: 40 },
      completion: { count: 1, sum: 5 },
    });
    const routed = await metrics.registry.getSingleMetricAsString("kvroute_routed_requests_total");
    expect(routed).toContain('kvroute_routed_requests_total{model="m1",pod="a",strategy="random"} 1');
  });

  it("a JSON body: duration and tokens, no TTFT and no TPOT (its first byte comes after the whole generation)", async () => {
    const { metrics, run } = setup();
    run(false, [
      [100, responseHeaders(200, { "content-type": "application/json" })],
      [900, responseBody(`{"choices":[{"text":"abc"}],${usage(3)}}`, true)],
    ]);
    expect({
      ttft: (await observed(metrics, "kvroute_time_to_first_token_seconds")).count,
      tpot: (await observed(metrics, "kvroute_time_per_output_token_seconds")).count,
      duration: await observed(metrics, "kvroute_request_duration_seconds"),
      completion: await observed(metrics, "kvroute_completion_tokens"),
    }).toEqual({ ttft: 0, tpot: 0, duration: { count: 1, sum: 0.9 }, completion: { count: 1, sum: 3 } });
  });

  it("a failed request records no latency or token sample (it is still counted as routed)", async () => {
    const { metrics, run } = setup();
    run(true, [
      [100, responseHeaders(503, SSE)],
      [200, responseBody('data: {"error":"overloaded"}\n\n', true)],
    ]);
    for (const name of [
      "kvroute_time_to_first_token_seconds",
      "kvroute_request_duration_seconds",
      "kvroute_prompt_tokens",
    ])
      expect((await observed(metrics, name)).count).toBe(0);
    expect(await metrics.registry.getSingleMetricAsString("kvroute_routed_requests_total")).toContain(
      'pod="a",strategy="random"} 1',
    );
  });

  it("a pod's request series leave with the pod", async () => {
    const cluster = createClusterStore();
    cluster.replace([A]);
    const metrics = createMetrics(createLoadTracker(), cluster);
    const labels = { model: "m1", pod: metrics.podLabel.admit("a") };
    metrics.requestDuration.observe(labels, 1);
    metrics.timeToFirstToken.observe(labels, 0.1);
    metrics.routedRequests.inc({ ...labels, strategy: "random" });
    cluster.replace([]);
    expect(await metrics.removeDepartedPodSeries()).toBe(3);
    expect(await metrics.registry.metrics()).not.toMatch(/pod="a"/);
  });
});
