/**
 * The real process: flags and env validated at start (bad value → exit 2 naming the setting), `--help`, and
 * SIGTERM → drain → exit 0, on the example configuration.
 */
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import path from "node:path";
import { createInterface } from "node:readline";
import pkg from "../../package.json";
import { compiled } from "../support/compiled-build";
import { collectOutput as collect } from "../support/process-output";

// Each test starts a real process (the compiled build): allow for a loaded CI machine.
jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, "../..");

/**
 * Standalone on the example fleet, on free ports, with no drain delay: the delay (5 s by default) is proven in
 * drain-rollout.test.ts, and here it would only add its length to each SIGTERM.
 */
const EXAMPLE_ARGS = [
  "--drain-delay-ms",
  "0",
  "--standalone",
  "--endpoints-config",
  "examples/endpoints.yaml",
  "--grpc-bind-address",
  "127.0.0.1:0",
  "--http-bind-address",
  "127.0.0.1:0",
];

const children = new Set<ChildProcessWithoutNullStreams>();
afterAll(() => {
  // A failed test must not leave a kvroute behind.
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

function kvroute(args: string[], env: Record<string, string> = {}): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [...compiled("src/cli.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env["PATH"] ?? "", ...env },
  });
  children.add(child);
  return child;
}

describe("kvroute process", () => {
  it("--help lists every flag with its env var, then the other commands, and exits 0", async () => {
    const r = await collect(kvroute(["--help"]));
    expect(r.code).toBe(0);
    for (const s of [
      "--grpc-bind-address",
      "--http-bind-address",
      "--routing-algorithm",
      "ROUTING_ALGORITHM",
      "AIBRIX_AUTH_BEARER_TOKEN",
      "--max-body-bytes",
      "kvroute --version",
      "kvroute route --help",
      "kvroute calibrate --help",
    ]) {
      expect(r.stdout).toContain(s);
    }
  });

  // One start reports every problem at once (src/config/load.ts), so one process proves all four kinds reach the
  // operator: a bad flag value, a bad environment variable, an unknown flag and a rule across settings (Kubernetes
  // mode: an InferencePool without its namespace).
  it("bad settings exit 2 naming each: a flag value, an env var, an unknown flag, a missing partner", async () => {
    const r = await collect(
      kvroute(["--inference-pool", "pool", "--drain-timeout-ms", "soon", "--no-such-flag"], {
        KVROUTE_MAX_BODY_BYTES: "-1",
      }),
    );
    expect(r.code).toBe(2);
    expect(r.stdout).toBe("");
    for (const named of [
      /^kvroute: .*unknown flag --no-such-flag/m,
      /^--drain-timeout-ms \(KVROUTE_DRAIN_TIMEOUT_MS\): .*"soon"/m,
      /^--max-body-bytes \(KVROUTE_MAX_BODY_BYTES\): .*"-1"/m,
      /^--inference-pool \(KVROUTE_INFERENCE_POOL\): needs --namespace \(KVROUTE_NAMESPACE\)/m,
    ])
      expect(r.stderr).toMatch(named);
  });

  it("an unknown default strategy fails start naming ROUTING_ALGORITHM", async () => {
    const r = await collect(
      kvroute(
        [
          "--standalone",
          "--endpoints-config",
          "examples/endpoints.yaml",
          "--grpc-bind-address",
          "127.0.0.1:0",
          "--http-bind-address",
          "127.0.0.1:0",
        ],
        {
          ROUTING_ALGORITHM: "warp-drive",
        },
      ),
    );
    expect(r.code).toBe(1);
    expect(r.stdout + r.stderr).toMatch(/ROUTING_ALGORITHM/);
  });

  it("starts on the example config, serves /v1/models, and exits 0 on SIGTERM", async () => {
    const child = kvroute(EXAMPLE_ARGS);
    const done = collect(child);
    const lines = createInterface({ input: child.stdout });
    let httpPort = 0;
    let ready: Record<string, unknown> = {};
    for await (const line of lines) {
      const rec = JSON.parse(line) as { msg?: string; httpPort?: number };
      if (rec.msg === "kvroute ready") {
        httpPort = rec.httpPort ?? 0;
        ready = rec;
        break;
      }
    }
    // The startup line says what runs: version, discovery, tokenizer and every feature on or off, at info.
    expect(ready).toMatchObject({
      level: "info",
      version: pkg.version,
      discovery: "file",
      discoverySource: "examples/endpoints.yaml",
      tokenizer: "character",
      kvEvents: "off",
      routingAlgorithm: "least-request",
    });
    expect(ready["features"]).toMatchObject({
      redisUsage: false,
      passiveHealth: true,
      grpcTls: false,
      conformanceTestMode: false,
      logRequests: false,
    });
    lines.close();
    child.stdout.resume();
    const models = (await (await fetch(`http://127.0.0.1:${httpPort}/v1/models`)).json()) as {
      data: { id: string }[];
    };
    expect(models.data.map((m) => m.id)).toEqual(["qwen3-8b"]);
    child.kill("SIGTERM");
    const r = await done;
    expect(r.code).toBe(0);
    // The log is written asynchronously: the lines of the stop, the last one included, are flushed before exit.
    const messages = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => (JSON.parse(l) as { msg?: string }).msg);
    expect(messages).toContain("draining");
    expect(messages[messages.length - 1]).toBe("stopped");
  });

  it("a fatal exception still writes the buffered log lines", async () => {
    const child = spawn(process.execPath, [...compiled("test/process/fixtures/log-then-crash.ts")], {
      cwd: ROOT,
      env: { PATH: process.env["PATH"] ?? "" },
    });
    children.add(child);
    const r = await collect(child);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("fatal for the test");
    const messages = r.stdout
      .split("\n")
      .filter((l) => l.startsWith("{"))
      .map((l) => (JSON.parse(l) as { msg?: string }).msg);
    expect(messages).toEqual(["before the crash", "last words"]);
  });
});
