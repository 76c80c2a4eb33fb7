/**
 * Metric label hygiene over the real admin HTTP server: what clients send (`routing-strategy` headers, model names
 * served by any-model InferencePool pods) cannot create series of their own, and a pod's series leave with the pod.
 */
import { createServer as createHttpServer } from "node:http";
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { ProcessingResponse } from "../../src/extproc/messages";
import { MAX_REMEMBERED_STRATEGY_SPECS } from "../../src/extproc/request-reporter";
import { CHAT_HEADERS, body, chatBody, headers, pod, startHarness } from "../extproc/harness";
import type { Harness } from "../extproc/harness";
import { within } from "../support/within";

/** Fetch kvroute's /metrics over HTTP. */
async function scrape(h: Harness): Promise<string> {
  return (await fetch(`http://127.0.0.1:${h.server.httpPort}/metrics`)).text();
}

/** Distinct values of `label` on the samples of `metric`. */
function labelValues(text: string, metric: string, label: string): Set<string> {
  const out = new Set<string>();
  const re = new RegExp(`^${metric}\\{[^}]*\\b${label}="([^"]*)"`, "gm");
  for (const m of text.matchAll(re)) out.add(m[1] ?? "");
  return out;
}

/** One request: headers + body; the stream is ended so the request is recorded as finished. */
async function request(
  h: Harness,
  extra: Record<string, string>,
  model: string,
): Promise<ProcessingResponse> {
  const s = h.client.open();
  const [hr] = await s.exchange(headers({ ...CHAT_HEADERS, ...extra }));
  const reply = hr?.immediate_response ? hr : (await s.exchange(body(chatBody(model))))[0];
  s.end();
  await s.status;
  if (reply === undefined) throw new Error("no reply");
  return reply;
}

describe("labels from clients stay bounded", () => {
  let h: Harness;
  beforeAll(async () => {
    // Two any-model pods (InferencePool members without a model label) and one pod naming m1.
    // The harness scrapes nothing without `scrapeMetrics: true`: these pods are in-memory (loopback-check: not-dialled below).
    h = await startHarness([
      pod("any-1", "10.0.0.1", ["*"]), // loopback-check: not-dialled
      pod("any-2", "10.0.0.2", ["*"]), // loopback-check: not-dialled
      pod("named", "10.0.0.3", ["m1"]), // loopback-check: not-dialled
    ]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("distinct strategy headers and model names, past every bound, give a fixed set of series", async () => {
    const BATCH = 50;
    // Every spec is distinct, so once the reporter has remembered the labels of its first
    // MAX_REMEMBERED_STRATEGY_SPECS specs the rest take its other path: N goes past that, and past the label
    // limiters' 200 values (9 in 10 model names here are distinct), so a raw value leaking through either path
    // shows up as a series. More requests take no new path; each costs ~1.5 ms of CPU.
    const N = (Math.floor(MAX_REMEMBERED_STRATEGY_SPECS / BATCH) + 1) * BATCH;
    let routed = 0;
    for (let start = 0; start < N; start += BATCH) {
      const replies = await Promise.all(
        Array.from({ length: BATCH }, (_, j) => {
          const i = start + j;
          // Valid specs only (an invalid one is a 400 before any strategy label): one strategy with a weight, or
          // a client's own weighted mix.
          const spec = i % 2 === 0 ? `random:${i + 1}` : `least-request:${i + 1},random`;
          const model = i % 10 === 0 ? "m1" : `client-model-${i}`;
          return request(h, { "routing-strategy": spec }, model);
        }),
      );
      routed += replies.filter((r) => r.immediate_response === undefined).length;
    }
    expect(routed).toBe(N);

    const text = await scrape(h);
    const sorted = (metric: string, label: string): string[] => [...labelValues(text, metric, label)].sort();
    expect({
      requestStrategies: sorted("kvroute_requests_total", "strategy"),
      decisionStrategies: sorted("kvroute_decision_duration_seconds_count", "strategy"),
      models: sorted("kvroute_requests_total", "model"),
    }).toEqual({
      requestStrategies: ["combined", "random"],
      decisionStrategies: ["combined", "random"],
      models: ["m1", "unknown"],
    });
  }, 120_000);

  it("the configured default, even combined, keeps its canonical form; a bad header stays `none`", async () => {
    const d = await startHarness(
      [pod("p", "10.0.0.9", ["m1"])], // loopback-check: not-dialled (harness without scrapeMetrics)
      ["--routing-algorithm", "least-request:3,random"],
    );
    try {
      await request(d, {}, "m1");
      await request(d, { "routing-strategy": " least-request:3 , random " }, "m1");
      await request(d, { "routing-strategy": "warp-drive" }, "m1");
      const text = await scrape(d);
      expect(labelValues(text, "kvroute_requests_total", "strategy")).toEqual(
        new Set(["least-request:3,random", "none"]),
      );
    } finally {
      await d.close();
    }
  });

  it("a refused request keeps the model it named when the fleet serves it, else `unknown`; `none` before one was read", async () => {
    const d = await startHarness([
      pod("p", "10.0.0.9", ["m1"]), // loopback-check: not-dialled (harness without scrapeMetrics)
      pod("q", "10.0.0.10", ["m2"], false), // loopback-check: not-dialled (not ready)
    ]);
    try {
      const refused = async (extra: Record<string, string>, model: string): Promise<void> => {
        expect((await request(d, extra, model)).immediate_response).toBeDefined();
      };
      await refused({ "routing-strategy": "warp-drive" }, "m1"); // 400: the fleet serves m1
      await refused({}, "client-invented-model"); // 400: no pod names it
      await refused({}, "m2"); // 503: the default strategy found no ready pod
      const s = d.client.open(); // 400: not JSON, no model read
      await s.exchange(headers(CHAT_HEADERS));
      expect((await s.exchange(body("{")))[0]?.immediate_response).toBeDefined();
      s.end();
      await s.status;
      const series = [...(await scrape(d)).matchAll(/^kvroute_requests_total\{([^}]*)\} 1$/gm)].map(
        (m) => m[1],
      );
      expect(series.sort()).toEqual(
        [
          'model="m1",strategy="none",status="400"',
          'model="unknown",strategy="none",status="400"',
          'model="m2",strategy="least-request",status="503"',
          'model="none",strategy="none",status="400"',
        ].sort(),
      );
    } finally {
      await d.close();
    }
  });
});

describe("per-pod series leave with their pod", () => {
  let engines: Server[] = [];
  let h: Harness;

  /** A minimal engine /metrics endpoint on loopback. */
  async function engine(): Promise<number> {
    const srv = createHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end('vllm:num_requests_running{model_name="m1"} 0\nvllm:num_requests_waiting{model_name="m1"} 0\n');
    });
    engines.push(srv);
    await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
    return (srv.address() as AddressInfo).port;
  }

  afterEach(async () => {
    await h?.close();
    await Promise.all(engines.map((s) => new Promise((resolve) => s.close(resolve))));
    engines = [];
  });

  it("after a pod leaves the cluster, no series carries its pod label", async () => {
    const p1 = pod("p1", "127.0.0.1", ["m1"], true, await engine());
    const p2 = pod("p2", "127.0.0.1", ["m1"], true, await engine());
    h = await startHarness([p1, p2], [], {}, { scrapeMetrics: true });
    // Both pods scraped (counter and histogram series), then waited for as a condition on /metrics.
    const scraped = async (): Promise<void> => {
      for (;;) {
        const pods = labelValues(await scrape(h), "kvroute_engine_scrapes_total", "pod");
        if (pods.has("p1") && pods.has("p2")) return;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
    };
    await within(scraped(), 15_000, "both pods scraped");
    // KV-event series, as the KV-event runtime records them.
    for (const name of ["p1", "p2"]) {
      h.server.metrics.kvEvents.inc({ pod: h.server.metrics.podLabel.admit(name), tag: "BlockStored" });
      h.server.metrics.kvEventIssues.inc({ pod: h.server.metrics.podLabel.admit(name), kind: "gap" });
    }
    const before = await scrape(h);
    expect(before).toMatch(/kvroute_engine_scrape_duration_seconds_bucket\{[^}]*pod="p1"/);
    expect(before).toMatch(/kvroute_kv_events_total\{pod="p1"/);

    h.cluster.replace([p2]);
    const after = await scrape(h);
    expect(after.split("\n").filter((l) => l.includes('pod="p1"'))).toEqual([]);
    // The remaining pod keeps its series.
    expect(after).toMatch(/kvroute_engine_scrapes_total\{pod="p2"/);
    expect(after).toMatch(/kvroute_kv_events_total\{pod="p2"/);
    // A late record for the departed pod does not bring its name back.
    h.server.metrics.kvEvents.inc({ pod: h.server.metrics.podLabel.admit("p1"), tag: "BlockStored" });
    expect((await scrape(h)).split("\n").filter((l) => l.includes('pod="p1"'))).toEqual([]);
  });
});
