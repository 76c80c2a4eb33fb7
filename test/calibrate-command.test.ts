/**
 * `kvroute calibrate` against a real loopback HTTP metrics endpoint: two readings of vLLM counters, the measured
 * prefill throughput (cached tokens excluded) and the gate and flag printed from it. Time is injected (the
 * readings are 2 s apart on the command's clock without waiting 2 s).
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { runCalibrate } from "../src/calibrate-command";
import type { CalibrateClock } from "../src/calibrate-command";

/** A vLLM-like exposition with the two counters the command reads. */
const body = (prompt: number, hits: number): string =>
  [
    "# TYPE vllm:prompt_tokens_total counter",
    `vllm:prompt_tokens_total{model_name="m"} ${prompt}`,
    "# TYPE vllm:prefix_cache_hits_total counter",
    `vllm:prefix_cache_hits_total{model_name="m"} ${hits}`,
    "",
  ].join("\n");

/** Serve `bodies` in order, one per request (the last repeats); resolves with the server and its metrics URL. */
async function metricsServer(bodies: readonly string[]): Promise<{ server: http.Server; url: string }> {
  let i = 0;
  const server = http.createServer((_req, res) => {
    const text = bodies[Math.min(i++, bodies.length - 1)] ?? "";
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
    res.end(text);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  return { server, url: `http://127.0.0.1:${port}/metrics` };
}

/** A clock at 1000 ms that jumps by the slept time. */
function steppedClock(): CalibrateClock & { slept: number[] } {
  let t = 1000;
  const slept: number[] = [];
  return {
    slept,
    now: () => t,
    sleep: (ms) => {
      slept.push(ms);
      t += ms;
      return Promise.resolve();
    },
  };
}

async function run(args: readonly string[], clock = steppedClock()) {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runCalibrate(
    args,
    (s) => out.push(s),
    (s) => err.push(s),
    clock,
  );
  return { code, out: out.join("\n"), err: err.join("\n"), clock };
}

describe("kvroute calibrate", () => {
  const servers: http.Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((resolve) => s.close(resolve))));
  });

  it("prints the computed prefill rate between two readings, the gate and the flag value", async () => {
    // 2 s apart: 50,000 prompt tokens of which 30,000 cached → 20,000 computed → 10,000 tokens/s.
    const { server, url } = await metricsServer([body(100_000, 40_000), body(150_000, 70_000)]);
    servers.push(server);
    const r = await run(["--metrics-url", url, "--seconds", "2", "--ttft-penalty-ms", "300", "--model", "m"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.clock.slept).toEqual([2000]);
    expect(r.out).toContain("prefill throughput: 10,000 tokens/s computed over 2.0 s");
    expect(r.out).toContain("(prompt tokens 25,000/s, of which cached 15,000/s)");
    expect(r.out).toContain("gate cap at a 300 ms TTFT penalty: 3,000 uncached prompt tokens");
    expect(r.out).toContain("--prefix-affinity-prefill-throughput m=10000");
    expect(r.out).toContain("KVROUTE_PREFIX_AFFINITY_PREFILL_THROUGHPUT=m=10000");
  });

  it("fails (exit 1) when nothing was computed, the counters went back, or there is no counter", async () => {
    const idle = await metricsServer([body(10, 0), body(10, 0)]);
    const restarted = await metricsServer([body(500, 0), body(10, 0)]);
    const none = await metricsServer(["# TYPE up gauge\nup 1\n"]);
    servers.push(idle.server, restarted.server, none.server);
    const a = await run(["--metrics-url", idle.url, "--seconds", "1"]);
    expect([a.code, a.err]).toEqual([1, expect.stringContaining("under load")]);
    const b = await run(["--metrics-url", restarted.url, "--seconds", "1"]);
    expect([b.code, b.err]).toEqual([1, expect.stringContaining("restarted")]);
    const c = await run(["--metrics-url", none.url, "--seconds", "1"]);
    expect([c.code, c.err]).toEqual([1, expect.stringContaining("no prompt-token counter")]);
  });

  it("answers a bad command line with exit 2 and the usage", async () => {
    const r = await run(["--seconds", "2"]);
    expect(r.code).toBe(2);
    expect(r.err).toContain("--metrics-url is required");
    const bad = await run(["--metrics-url", "ftp://127.0.0.1/x"]);
    expect(bad.code).toBe(2);
    const help = await run(["--help"]);
    expect([help.code, help.out]).toEqual([0, expect.stringContaining("Usage: kvroute calibrate")]);
  });
});
