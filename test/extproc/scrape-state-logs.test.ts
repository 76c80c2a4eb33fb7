/**
 * Engine-metrics scrape state through the real scraper (on its thread, as in production) and a real HTTP
 * endpoint, read from the server's logger sink: a pod where nothing listens is logged once at warn with its reason
 * class however many scrapes fail, once at info when it answers, and once more at warn when it fails again.
 */
import http from "node:http";
import net from "node:net";
import type { AddressInfo } from "node:net";
import { pod, startHarness } from "./harness";
import type { Harness } from "./harness";
import { within } from "../support/within";

const FAILING = "engine metrics scrape failing; the pod's metrics age out until it recovers";
const RECOVERED = "engine metrics scrape recovered";
const EXPOSITION = [
  "# TYPE vllm:num_requests_running gauge",
  'vllm:num_requests_running{engine="0",model_name="m1"} 0.0',
  "",
].join("\n");

/** A loopback port nothing listens on (bound, then let go). */
async function freePort(): Promise<number> {
  const srv = net.createServer();
  await new Promise<void>((resolve) => srv.listen(0, "127.0.0.1", resolve));
  const { port } = srv.address() as AddressInfo;
  await new Promise<void>((resolve) => srv.close(() => resolve()));
  return port;
}

/** Resolve once `check` holds, checked every 10 ms (the scraper's counters have no event to wait on). */
async function until(check: () => Promise<boolean>, what: string): Promise<void> {
  const poll = async (): Promise<void> => {
    while (!(await check())) await new Promise((r) => setTimeout(r, 10));
  };
  await within(poll(), 30_000, what);
}

describe("scrape state logs", () => {
  let h: Harness | undefined;
  let engine: http.Server | undefined;
  afterEach(async () => {
    await h?.close();
    if (engine) await new Promise<void>((resolve) => engine?.close(() => resolve()));
    engine = undefined;
  });

  it("down: one warn with the reason class; up: one info; down again: one warn", async () => {
    const port = await freePort();
    const p = { ...pod("p1", "127.0.0.1", ["m1"]), metricsPort: port };
    h = await startHarness(
      [p],
      ["--metrics-interval-ms", "20", "--metrics-timeout-ms", "1000", "--outlier-detection=false"],
      {},
      { scrapeMetrics: true },
    );
    const harness = h;
    const lines = (msg: string): Record<string, unknown>[] =>
      harness.log.lines.filter((l) => l["msg"] === msg && l["pod"] === p.key);
    // Read through the registry's object, not its name: the count of scrapes that failed to connect.
    const failed = async (): Promise<number> =>
      (await harness.server.metrics.scrapes.get()).values
        .filter((v) => v.labels["result"] === "connect-error")
        .reduce((n, v) => n + v.value, 0);

    const down = await within(
      harness.log.waitFor((l) => l["msg"] === FAILING && l["pod"] === p.key),
      30_000,
      "failing line",
    );
    expect(down).toMatchObject({ level: "warn", reason: "connect-error" });
    await until(async () => (await failed()) >= 5, "five failed scrapes");

    let served = 0;
    engine = http.createServer((_req, res) => {
      served += 1;
      res.end(EXPOSITION);
    });
    const up = engine;
    await new Promise<void>((resolve) => up.listen(port, "127.0.0.1", resolve));
    const recovered = await within(
      harness.log.waitFor((l) => l["msg"] === RECOVERED && l["pod"] === p.key),
      30_000,
      "recovered line",
    );
    expect(recovered["level"]).toBe("info");
    expect(typeof recovered["failedForMs"]).toBe("number");
    await until(() => Promise.resolve(served >= 5), "five good scrapes");
    expect(lines(FAILING)).toHaveLength(1);
    expect(lines(RECOVERED)).toHaveLength(1);

    // Down again (the engine stops answering): a new change, one more warn.
    await new Promise<void>((resolve) => {
      up.close(() => resolve());
      up.closeAllConnections();
    });
    engine = undefined;
    const before = await failed();
    await until(async () => (await failed()) >= before + 5, "five more failed scrapes");
    expect(lines(FAILING)).toHaveLength(2);
    expect(lines(RECOVERED)).toHaveLength(1);
  });
});
