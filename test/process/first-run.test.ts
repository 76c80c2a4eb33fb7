/**
 * A new user's first commands, as real processes on the compiled build: `kvroute --version`, and `make run`'s
 * launcher (scripts/run-with-sim.mjs) starting a simulated fleet and kvroute on it, a request routed to a sim pod
 * by `kvroute route`, and Ctrl-C (SIGINT) stopping both processes. That `--help` names the other commands is
 * checked with the rest of its output in cli.test.ts (one process for both).
 */
import { spawn } from "node:child_process";
import type { ChildProcessWithoutNullStreams } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { compiled } from "../support/compiled-build";
import { collectOutput as collect } from "../support/process-output";
import { freePort } from "../support/redis-server";

// Real processes (the simulator, kvroute, the launcher): allow for a loaded CI machine.
jest.setTimeout(60_000);

const ROOT = path.resolve(__dirname, "../..");
const VERSION = (JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string })
  .version;

const children = new Set<ChildProcessWithoutNullStreams>();
const pids = new Set<number>();
afterAll(() => {
  // A failed test must leave nothing behind: neither the launcher nor the children it started.
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill("SIGKILL");
  for (const pid of pids) if (alive(pid)) process.kill(pid, "SIGKILL");
});

function node(args: readonly string[]): ChildProcessWithoutNullStreams {
  const child = spawn(process.execPath, args, { cwd: ROOT, env: { PATH: process.env["PATH"] ?? "" } });
  children.add(child);
  return child;
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

describe("first run", () => {
  // `-v` is the same command (test/config/command.test.ts): one process for the two spellings.
  it("kvroute --version prints package.json's version and exits 0", async () => {
    const r = await collect(node([...compiled("src/cli.ts"), "--version"]));
    expect(r).toEqual({ code: 0, stdout: `kvroute ${VERSION}\n`, stderr: "" });
  });

  it("make run's launcher: a sim fleet and kvroute on it, a request routed to a sim pod, SIGINT stops both", async () => {
    const [grpc, httpPort, basePort, kvPort, kvReplayPort] = [
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
      await freePort(),
    ];
    const launcher = node([
      path.join(ROOT, "scripts", "run-with-sim.mjs"),
      ...["--grpc-port", String(grpc), "--http-port", String(httpPort), "--pods", "2"],
      ...["--base-port", String(basePort), "--kv-port", String(kvPort)],
      ...["--kv-replay-port", String(kvReplayPort), "--model", "sim-m"],
      ...["--kvroute-js", ...compiled("src/cli.ts"), "--sim-js", ...compiled("src/sim/cli.ts")],
    ]);
    const exited = collect(launcher);
    const started = new Map<string, number>();
    await new Promise<void>((resolve, reject) => {
      launcher.once("exit", (code) => reject(new Error(`launcher exited (${String(code)}) before ready`)));
      createInterface({ input: launcher.stdout }).on("line", (line) => {
        const m = /^kvroute-run: (\S+) started \(pid (\d+)\)$/.exec(line);
        if (m?.[1] && m[2]) {
          started.set(m[1], Number(m[2]));
          pids.add(Number(m[2]));
        }
        if (line.startsWith("kvroute-run: ready:")) resolve();
      });
    });
    expect([...started.keys()].sort()).toEqual(["kvroute", "kvroute-sim"]);

    const routed = await collect(
      node([
        ...compiled("src/cli.ts"),
        ...[
          "route",
          "--grpc-address",
          `127.0.0.1:${grpc}`,
          "--model",
          "sim-m",
          "--prompt",
          "hello",
          "--send",
        ],
      ]),
    );
    expect(routed.stderr).toBe("");
    expect(routed.code).toBe(0);
    // The sim's pods: pod i on 127.0.0.(i+1), port base + i.
    const simPods = [`127.0.0.1:${basePort}`, `127.0.0.2:${basePort + 1}`];
    const pod = /pod: +(\S+)/.exec(routed.stdout)?.[1];
    expect(simPods).toContain(pod);
    expect(routed.stdout).toMatch(/pod answer: +HTTP 200/);

    launcher.kill("SIGINT");
    const r = await exited;
    expect(r.code).toBe(0);
    // The launcher exits only after both children did: nothing is left running.
    for (const pid of started.values()) expect(alive(pid)).toBe(false);
  });

  // The launcher sees only that kvroute exited before its "ready" line, whatever the cause; a refused flag (passed
  // on after `--`) ends kvroute right after it reads its configuration, where a taken port would cost a server
  // start first (failed-start.test.ts shows that path ends the process too).
  it("make run's launcher stops the simulator and exits 1 when kvroute cannot start", async () => {
    const launcher = node([
      path.join(ROOT, "scripts", "run-with-sim.mjs"),
      ...["--grpc-port", String(await freePort()), "--http-port", String(await freePort()), "--pods", "1"],
      ...["--base-port", String(await freePort()), "--kv-port", String(await freePort())],
      ...["--kv-replay-port", String(await freePort())],
      ...["--kvroute-js", ...compiled("src/cli.ts"), "--sim-js", ...compiled("src/sim/cli.ts")],
      ...["--", "--no-such-flag"],
    ]);
    const r = await collect(launcher);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown flag --no-such-flag");
    expect(r.stdout).toContain("kvroute-run: kvroute exited before it was ready");
    const sim = Number(/kvroute-run: kvroute-sim started \(pid (\d+)\)/.exec(r.stdout)?.[1]);
    pids.add(sim);
    expect(alive(sim)).toBe(false);
  });
});
