/**
 * The real kvroute process in Kubernetes mode against the fake API server: readiness waits for the first sync,
 * pods and ModelAdapters become routable models, and a bad kubeconfig exits 2 naming the setting. (An
 * InferencePool without its namespace is a configuration rule: cli.test.ts shows it refused with the others.)
 */
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { writeFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { createFakeKubeApi } from "../support/fake-kube-api";
import type { FakeKubeApi } from "../support/fake-kube-api";
import { adapterObject, podObject } from "../support/kube-objects";
import { compiled } from "../support/compiled-build";
import { collectOutput as collect } from "../support/process-output";
import { scratchDir } from "../support/scratch-dir";

// Each test starts a real process (the compiled build): allow for a loaded CI machine.
jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, "../..");
const children = new Set<ChildProcessWithoutNullStreams>();
afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
});

function kubeconfigFor(port: number): string {
  const dir = scratchDir("kvroute-kube-");
  const file = path.join(dir, "config");
  writeFileSync(
    file,
    [
      "apiVersion: v1",
      "kind: Config",
      "clusters:",
      `- name: fake\n  cluster:\n    server: http://127.0.0.1:${port}\n    insecure-skip-tls-verify: true`,
      "users:\n- name: anon\n  user: {}",
      "contexts:\n- name: fake\n  context:\n    cluster: fake\n    user: anon",
      "current-context: fake",
      "",
    ].join("\n"),
  );
  return file;
}

function kvroute(args: string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, [...compiled("src/cli.ts"), ...args], {
    cwd: ROOT,
    env: { PATH: process.env["PATH"] ?? "" },
  });
  children.add(child);
  return child;
}

/** Log lines of a child, awaitable by message. */
function logLines(child: ChildProcessWithoutNullStreams): (msg: string) => Promise<Record<string, unknown>> {
  const seen: Record<string, unknown>[] = [];
  const waiters: { msg: string; resolve: (l: Record<string, unknown>) => void }[] = [];
  createInterface({ input: child.stdout }).on("line", (text) => {
    const line = JSON.parse(text) as Record<string, unknown>;
    seen.push(line);
    for (const w of waiters.filter((w) => w.msg === line["msg"])) {
      waiters.splice(waiters.indexOf(w), 1);
      w.resolve(line);
    }
  });
  return (msg) => {
    const found = seen.find((l) => l["msg"] === msg);
    return found ? Promise.resolve(found) : new Promise((resolve) => waiters.push({ msg, resolve }));
  };
}

describe("kvroute in Kubernetes mode", () => {
  let api: FakeKubeApi;
  beforeEach(async () => {
    api = createFakeKubeApi();
    await api.start();
  });
  afterEach(async () => {
    await api.stop();
  });

  it("becomes ready once the API server is reachable, and routes models and adapters from it", async () => {
    api.add(podObject({ name: "vllm-0", ip: "127.0.0.5", labels: { "model.aibrix.ai/name": "qwen3-8b" } }));
    api.add(adapterObject("qwen3-sql-lora", ["vllm-0"]));
    const file = kubeconfigFor(api.port);
    // The API server is down when kvroute starts: readiness must wait.
    await api.stop();
    const child = kvroute([
      "--kubeconfig",
      file,
      // The drain delay is proven in drain-rollout.test.ts; here it would only lengthen the SIGTERM.
      ...["--drain-delay-ms", "0"],
      "--grpc-bind-address",
      "127.0.0.1:0",
      "--http-bind-address",
      "127.0.0.1:0",
    ]);
    const exited = new Promise<number | null>((resolve) => child.on("exit", resolve));
    const logged = logLines(child);
    const httpPort = (await logged("kvroute ready"))["httpPort"] as number;
    const base = `http://127.0.0.1:${httpPort}`;
    expect((await fetch(`${base}/readyz`)).status).toBe(503);
    await api.start();
    await logged("kubernetes discovery synced");
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const models = (await (await fetch(`${base}/v1/models`)).json()) as { data: { id: string }[] };
    expect(models.data.map((m) => m.id)).toEqual(["qwen3-8b", "qwen3-sql-lora"]);
    const state = (await (await fetch(`${base}/debug/state`)).json()) as {
      discovery: { source: string; synced: boolean };
      pods: { name: string; address: string; adapters: string[] }[];
    };
    expect(state.discovery).toMatchObject({ source: "kubernetes", synced: true });
    expect(state.pods).toEqual([
      expect.objectContaining({ name: "vllm-0", address: "127.0.0.5:8000", adapters: ["qwen3-sql-lora"] }),
    ]);
    child.kill("SIGTERM");
    expect(await exited).toBe(0);
  });

  it("a kubeconfig that cannot be read exits 2 naming --kubeconfig", async () => {
    const child = kvroute([
      "--kubeconfig",
      "/nonexistent/kubeconfig",
      "--grpc-bind-address",
      "127.0.0.1:0",
      "--http-bind-address",
      "127.0.0.1:0",
    ]);
    const r = await collect(child);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/--kubeconfig \(KUBECONFIG\)/);
    // Refused before anything started (src/serve.ts checks the discovery source first): no server, so not one
    // log line.
    expect(r.stdout).toBe("");
  });
});
