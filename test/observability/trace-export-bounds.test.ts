/**
 * The tracer's export bounds against a collector that accepts connections and never answers: the batch queue holds
 * at most `maxQueueSize` spans, the rest are dropped and counted as `queue-full`, and shutdown returns within its
 * bound although the export in flight never completes.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { performance } from "node:perf_hooks";
import { Registry } from "prom-client";
import { createLogger } from "../../src/observability/logger";
import { loadRequestTracer } from "../../src/observability";
import { Writable } from "node:stream";

const silent = createLogger("error", new Writable({ write: (_c, _e, cb) => cb() }));

describe("trace export bounds", () => {
  it("drops what does not fit in the queue while an export hangs, counted, and shutdown is bounded", async () => {
    let received!: () => void;
    const exporting = new Promise<void>((resolve) => (received = resolve));
    // Holds every request unanswered until the test lets it go (after the shutdown bound was shown).
    const held: http.ServerResponse[] = [];
    let answering = false;
    let exportsDone = 0;
    let allDone!: () => void;
    const done = new Promise<void>((resolve) => (allDone = resolve));
    const collector = http.createServer((req, res) => {
      req.resume();
      received();
      res.on("finish", () => {
        // The hung export, then the shutdown's flush of the two queued spans (one per batch).
        if (++exportsDone === 3) allDone();
      });
      if (answering) res.writeHead(200, { "content-type": "application/json" }).end("{}");
      else held.push(res);
    });
    await new Promise<void>((resolve) => collector.listen(0, "127.0.0.1", resolve));
    const { port } = collector.address() as AddressInfo;
    const registry = new Registry();
    const tracer = await loadRequestTracer({
      endpoint: `http://127.0.0.1:${port}/v1/traces`,
      sampleRatio: 1,
      serviceName: "kvroute",
      registry,
      log: silent,
      now: () => performance.now(),
      batch: { maxQueueSize: 2, maxExportBatchSize: 1, scheduledDelayMs: 10, exportTimeoutMs: 60_000 },
    });
    const dropped = async (reason: string): Promise<number> =>
      (await registry.getSingleMetric("kvroute_trace_spans_dropped_total")?.get())?.values.find(
        (v) => v.labels["reason"] === reason,
      )?.value ?? 0;
    // Five root-only traces: the first goes out in the export that hangs, two wait in the queue, two are dropped.
    const headers = { get: () => undefined };
    for (let i = 0; i < 5; i++) {
      const t = tracer.begin(`r${i}`, performance.now(), headers);
      if (t === undefined) throw new Error("ratio 1 keeps every root");
      t.end({ status: 200, outcome: "success", endMs: performance.now() });
    }
    await exporting;
    expect(await dropped("queue-full")).toBe(2);
    await tracer.shutdown(100);
    // Let the SDK finish its exports so it leaves no timer behind.
    answering = true;
    for (const res of held) res.writeHead(200, { "content-type": "application/json" }).end("{}");
    await done;
    collector.closeAllConnections();
    await new Promise<void>((resolve) => collector.close(() => resolve()));
  });
});
