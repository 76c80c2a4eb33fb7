/**
 * `kvroute route` against a real kvroute (the ext_proc harness on loopback): the decision printed (pod, strategy,
 * prefix hit in blocks, decision time) from the decision's `kvroute` metadata, without `--emit-endpoint-scores`;
 * the second request of a prefix finding it; a strategy that looks nothing up; the scores as extra detail when
 * kvroute emits them; `--send` through a real HTTP pod with the pod's answer reported back to kvroute, and a local
 * reply printed with a non-zero exit.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import { finishedLine } from "./extproc/harness-probes";
import { pod, startHarness } from "./extproc/harness";
import type { Harness } from "./extproc/harness";
import { runRoute } from "../src/route-command";

/** Run the command in-process; its printed lines and exit code. */
async function route(args: readonly string[]): Promise<{ code: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await runRoute(
    args,
    (s) => out.push(s),
    (s) => err.push(s),
  );
  return { code, out: out.join("\n"), err: err.join("\n") };
}

/** A prompt of several 16-token blocks (character tokenizer), so a repeat matches whole blocks. */
const PROMPT = "You are the support assistant of a bookshop. Answer briefly. ".repeat(4);

describe("kvroute route", () => {
  let h: Harness;
  let podServer: http.Server;
  let address: string;

  beforeAll(async () => {
    // A real HTTP "pod" that answers every chat request like a model server would.
    podServer = http.createServer((req, res) => {
      req.resume();
      req.on("end", () => {
        res.writeHead(200, { "content-type": "application/json" });
        res.end(
          JSON.stringify({
            choices: [{ index: 0, message: { role: "assistant", content: "ok" } }],
            usage: { prompt_tokens: 10, completion_tokens: 1, total_tokens: 11 },
          }),
        );
      });
    });
    await new Promise<void>((resolve) => podServer.listen(0, "127.0.0.1", resolve));
    const port = (podServer.address() as AddressInfo).port;
    h = await startHarness([
      pod("live", "127.0.0.1", ["m1"], true, port),
      pod("down", "127.0.0.9", ["gone"], false),
    ]);
    address = `127.0.0.1:${h.server.grpcPort}`;
  });
  afterAll(async () => {
    await h.close();
    await new Promise((resolve) => podServer.close(resolve));
  });

  it("prints the pod, the strategy, the prefix hit and the decision time", async () => {
    const args = ["--grpc-address", address, "--model", "m1", "--strategy", "prefix-cache"];
    const first = await route([...args, "--prompt", `${PROMPT} first question`]);
    expect(first.err).toBe("");
    expect(first.code).toBe(0);
    expect(first.out).toContain(`kvroute at ${address} routed the request`);
    expect(first.out).toMatch(/pod: +127\.0\.0\.1:\d+ \(pod name live\)/);
    expect(first.out).toMatch(/strategy: +prefix-cache/);
    expect(first.out).toMatch(/prefix hit: +0\/\d+ blocks: the picked pod holds none/);
    expect(first.out).toMatch(/fallback: +no-prefix-match/);
    expect(first.out).toMatch(/decision: +\d+\.\d{3} ms in kvroute, \d+\.\d ms round trip/);
    // Without --emit-endpoint-scores there are no scores, and nothing needs them.
    expect(first.out).not.toContain("scores:");

    // Same prefix, another question: kvroute's approximate index remembers where the first one went.
    const second = await route([...args, "--prompt", `${PROMPT} second question`]);
    expect(second.code).toBe(0);
    const [, hit, looked] =
      /prefix hit: +(\d+)\/(\d+) blocks of the prompt cached on the picked pod/.exec(second.out) ?? [];
    expect(Number(hit)).toBeGreaterThan(0);
    expect(Number(hit)).toBeLessThanOrEqual(Number(looked));
    expect(second.out).not.toContain("fallback:");
  });

  it("says so when the strategy looked no prefix up", async () => {
    const r = await route(["--grpc-address", address, "--model", "m1", "--prompt", PROMPT]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/strategy: +least-request/);
    expect(r.out).toMatch(/prefix hit: +not looked up/);
  });

  it("--send forwards to the chosen pod and reports the pod's answer back through kvroute", async () => {
    const r = await route(["--grpc-address", address, "--model", "m1", "--prompt", "hello", "--send"]);
    expect(r.err).toBe("");
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/pod answer: +HTTP 200 in \d+ ms \(pod name live\)/);
    const requestId = /request id: +(\S+)/.exec(r.out)?.[1];
    // kvroute saw the whole exchange: its request line carries the pod's status and usage.
    const line = await finishedLine(h, { requestId });
    expect(line).toMatchObject({ pod: "live", status: 200, completionTokens: 1 });
  });

  it("prints kvroute's local reply and exits 1", async () => {
    const r = await route(["--grpc-address", address, "--model", "gone", "--prompt", "hello"]);
    expect(r.code).toBe(1);
    expect(r.out).toBe("");
    expect(r.err).toMatch(new RegExp(`kvroute at ${address} refused the request: HTTP [45]\\d\\d`));
    expect(r.err).toMatch(/x-error-[a-z-]+: true/);
    expect(r.err).toMatch(/body: \{"error":/);
  });

  it("exits 1 naming the address when nothing answers there, and 2 on a bad command line", async () => {
    const gone = await route(["--grpc-address", "127.0.0.1:1", "--model", "m1", "--prompt", "x"]);
    expect(gone.code).toBe(1);
    expect(gone.err).toMatch(/no decision from kvroute at 127\.0\.0\.1:1: gRPC UNAVAILABLE/);
    const bad = await route(["--model", "m1"]);
    expect(bad.code).toBe(2);
    expect(bad.err).toContain("--model and --prompt are required");
  });
});

describe("kvroute route, kvroute with --emit-endpoint-scores", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(
      [pod("a", "127.0.0.21", ["m1"]), pod("b", "127.0.0.22", ["m1"])],
      ["--emit-endpoint-scores"],
    );
  });
  afterAll(async () => {
    await h.close();
  });

  it("adds the combined scores as extra detail", async () => {
    const address = `127.0.0.1:${h.server.grpcPort}`;
    const r = await route(["--grpc-address", address, "--model", "m1", "--prompt", PROMPT]);
    expect(r.code).toBe(0);
    expect(r.out).toMatch(/prefix hit: +not looked up/);
    expect(r.out).toMatch(/scores: +127\.0\.0\.2[12]:\d+ \d\.\d{3}/);
  });
});
