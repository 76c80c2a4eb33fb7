/**
 * Server processes for benchmarks, each a `child_process.fork` child running the compiled build (`compiled.ts`), so
 * client and server CPU are separate. Every child answers CPU-usage queries over IPC (`child-ipc.ts`), which gives µs
 * precision (`process.cpuUsage()`: user + system, all threads) instead of procfs clock ticks.
 *
 * Children are tracked here and SIGKILLed when the benchmark process exits for any reason, so none outlive it
 * (they also stop themselves when the IPC channel closes).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import http from "node:http";
import net from "node:net";
import type { ChildProcess } from "node:child_process";
import { isCpuReply, isListening } from "./child-ipc";
import { forkCompiled } from "./compiled";
import type { CpuQuery, CpuReply, Vitals } from "./child-ipc";

export { REPO_ROOT } from "./compiled";

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;
const TAIL_BYTES = 4096;

/** A running server child. */
export interface BenchChild {
  readonly name: string;
  readonly pid: number;
  readonly grpcPort: number;
  /** kvroute's admin HTTP port (undefined for the no-op server). */
  readonly httpPort: number | undefined;
  /** Newline-terminated stdout lines seen so far (kvroute's JSON log lines). */
  stdoutLines(): number;
  /** Bytes seen on stdout so far. */
  stdoutBytes(): number;
  /** Read and write syscalls the child has made so far (Linux `/proc/<pid>/io`); undefined when unreadable. */
  syscalls(): Syscalls | undefined;
  /** Total CPU time (user + system) the child has used so far, in µs. */
  cpuMicros(): Promise<number>;
  /** Loop delay since the previous call, and memory (after a GC when the child has `--expose-gc`). */
  vitals(): Promise<Vitals>;
  /** Whether the process is still running (a crash under load shows here). */
  alive(): boolean;
  /** SIGTERM, then SIGKILL after a timeout; resolves with the exit code (null when killed by a signal). */
  stop(): Promise<number | null>;
}

/** Syscall counters of a process. */
export interface Syscalls {
  /** read-like syscalls (`syscr`: read, recvmsg, ...). */
  readonly reads: number;
  /** write-like syscalls (`syscw`: write, writev, sendmsg, ...). */
  readonly writes: number;
}

/** `syscr`/`syscw` of `/proc/<pid>/io` (all threads of the process); undefined off Linux or on error. */
function readSyscalls(pid: number): Syscalls | undefined {
  try {
    const text = readFileSync(`/proc/${pid}/io`, "latin1");
    const field = (name: string): number => Number(new RegExp(`^${name}: (\\d+)$`, "m").exec(text)?.[1]);
    const reads = field("syscr");
    const writes = field("syscw");
    return Number.isFinite(reads) && Number.isFinite(writes) ? { reads, writes } : undefined;
  } catch {
    return undefined;
  }
}

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const c of live) c.kill("SIGKILL");
  });
}

/**
 * How a child announces that it is ready: the no-op server sends its port over IPC; kvroute gets ports chosen here
 * and is ready when its admin `/readyz` answers 200 (its "kvroute ready" line is logged at info only, so it cannot
 * serve at `--log-level warn`).
 */
type Readiness =
  | { readonly t: "ipc-listening" }
  | { readonly t: "readyz"; grpcPort: number; httpPort: number; pollMs: number };

interface ForkOptions {
  readonly name: string;
  readonly script: string;
  readonly args: readonly string[];
  readonly readiness: Readiness;
  readonly extraExecArgv?: readonly string[];
}

function tail(s: string): string {
  return s.length > TAIL_BYTES ? s.slice(-TAIL_BYTES) : s;
}

/** A free loopback TCP port (closed again before returning; the child binds it right after). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === "object" && addr ? resolve(addr.port) : reject(new Error("no port"))));
    });
  });
}

/** True when kvroute's admin `/readyz` on `port` answers 200. */
function isReady(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/readyz", timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode === 200);
    });
    req.on("error", () => resolve(false));
    req.on("timeout", () => req.destroy());
  });
}

/** Fork `script` (compiled) and resolve once it is ready to serve. */
function startChild(o: ForkOptions): Promise<BenchChild> {
  installExitHook();
  const child = forkCompiled(o.script, o.args, {
    execArgv: o.extraExecArgv ?? [],
    stdio: ["ignore", "pipe", "pipe", "ipc"],
  });
  live.add(child);
  const pid = child.pid ?? -1;
  let lines = 0;
  let bytes = 0;
  let stdoutHead = "";
  let stderrTail = "";
  let nextQueryId = 1;
  const cpuWaiters = new Map<number, (reply: CpuReply) => void>();
  const exited = new Promise<number | null>((resolve) => {
    child.once("exit", (code) => {
      live.delete(child);
      resolve(code);
    });
  });
  child.stderr?.on("data", (d: Buffer) => {
    stderrTail = tail(stderrTail + d.toString("utf8"));
  });
  child.on("message", (m: unknown) => {
    if (!isCpuReply(m)) return;
    cpuWaiters.get(m.id)?.(m);
    cpuWaiters.delete(m.id);
  });

  return new Promise<BenchChild>((resolve, reject) => {
    let ready = false;
    const timer = setTimeout(() => fail("did not become ready in time"), START_TIMEOUT_MS);
    function fail(why: string): void {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      child.kill("SIGKILL");
      reject(
        new Error(`${o.name} ${why}\n--- stdout ---\n${tail(stdoutHead)}\n--- stderr ---\n${stderrTail}`),
      );
    }
    function succeed(grpcPort: number, httpPort: number | undefined): void {
      if (ready) return;
      ready = true;
      clearTimeout(timer);
      stdoutHead = "";
      resolve(handle(grpcPort, httpPort));
    }
    void exited.then((code) => fail(`exited with code ${String(code)} before it was ready`));
    child.stdout?.on("data", (d: Buffer) => {
      bytes += d.length;
      for (let i = d.indexOf(10); i !== -1; i = d.indexOf(10, i + 1)) lines += 1;
      if (!ready) stdoutHead = tail(stdoutHead + d.toString("utf8"));
    });
    const r = o.readiness;
    if (r.t === "ipc-listening") {
      child.on("message", (m: unknown) => {
        if (isListening(m)) succeed(m.grpcPort, undefined);
      });
    } else {
      const poll = (): void => {
        if (ready) return;
        void isReady(r.httpPort).then((ok) =>
          ok ? succeed(r.grpcPort, r.httpPort) : setTimeout(poll, r.pollMs),
        );
      };
      poll();
    }
  });

  function query(vitals: boolean): Promise<CpuReply> {
    const id = nextQueryId++;
    return new Promise<CpuReply>((resolve, reject) => {
      const timer = setTimeout(() => {
        cpuWaiters.delete(id);
        reject(new Error(`${o.name} did not answer a CPU query`));
      }, STOP_TIMEOUT_MS);
      cpuWaiters.set(id, (reply) => {
        clearTimeout(timer);
        resolve(reply);
      });
      const q: CpuQuery = { t: "cpu?", id, vitals };
      child.send(q);
    });
  }

  function handle(grpcPort: number, httpPort: number | undefined): BenchChild {
    return {
      name: o.name,
      pid,
      grpcPort,
      httpPort,
      stdoutLines: () => lines,
      stdoutBytes: () => bytes,
      syscalls: () => readSyscalls(pid),
      async cpuMicros() {
        const r = await query(false);
        return r.userMicros + r.systemMicros;
      },
      async vitals() {
        const r = await query(true);
        if (!r.vitals) throw new Error(`${o.name} answered without vitals`);
        return r.vitals;
      },
      alive: () => child.exitCode === null && child.signalCode === null,
      async stop() {
        if (child.exitCode !== null || child.signalCode !== null) return child.exitCode;
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        const code = await exited;
        clearTimeout(timer);
        return code;
      },
    };
  }
}

/** Start the no-op ext_proc server (the floor); `extraExecArgv` as for kvroute (e.g. `--cpu-prof`). */
export function startNoopServer(name: string, extraExecArgv?: readonly string[]): Promise<BenchChild> {
  return startChild({
    name,
    script: "noop-extproc-server.ts",
    args: [],
    readiness: { t: "ipc-listening" },
    ...(extraExecArgv ? { extraExecArgv } : {}),
  });
}

/** Options of {@link startKvroute}. */
export interface KvrouteChildOptions {
  readonly name: string;
  readonly endpointsFile: string;
  readonly logLevel: "info" | "warn";
  readonly routingAlgorithm: string;
  /** Extra Node flags for the child, e.g. `--cpu-prof`. */
  readonly extraExecArgv?: readonly string[];
  /** Extra kvroute flags after the standard ones, e.g. `--kv-events-static` (the routing benchmark). */
  readonly extraArgs?: readonly string[];
  /** How often `/readyz` is polled while starting (default 100 ms; the first-prompt measurement polls faster). */
  readonly readinessPollMs?: number;
}

/**
 * Start kvroute's real `main()` (standalone, loopback ports chosen here), its stdout piped to this process. A port
 * found free can be taken before the child binds it (by another child, or as the ephemeral source port of one of
 * the driver's many connections): on EADDRINUSE the start is retried on new ports, a few times.
 */
export async function startKvroute(o: KvrouteChildOptions): Promise<BenchChild> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await startKvrouteOnce(o);
    } catch (err) {
      if (attempt >= 3 || !(err instanceof Error) || !err.message.includes("EADDRINUSE")) throw err;
    }
  }
}

async function startKvrouteOnce(o: KvrouteChildOptions): Promise<BenchChild> {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  return startChild({
    name: o.name,
    script: "kvroute-process.ts",
    args: [
      "--standalone",
      "--endpoints-config",
      o.endpointsFile,
      "--grpc-bind-address",
      `127.0.0.1:${grpcPort}`,
      "--http-bind-address",
      `127.0.0.1:${httpPort}`,
      "--log-level",
      o.logLevel,
      "--routing-algorithm",
      o.routingAlgorithm,
      // No rollout to wait for: stop at once, inside the stop timeout.
      "--drain-delay-ms",
      "0",
      ...(o.extraArgs ?? []),
    ],
    readiness: { t: "readyz", grpcPort, httpPort, pollMs: o.readinessPollMs ?? 100 },
    ...(o.extraExecArgv ? { extraExecArgv: o.extraExecArgv } : {}),
  });
}
