/**
 * A real, private `redis-server` child process for tests: loopback only, on a free port (never 6379), no
 * persistence. Readiness is an event (the server's "Ready to accept connections" line), never a sleep. `kill()`
 * simulates a mid-run outage (SIGKILL); `restart()` brings a fresh, empty server back on the same port;
 * `freeze()` / `thaw()` (SIGSTOP / SIGCONT) simulate a hung server: the kernel still accepts connections and
 * buffers commands, nothing answers until it is thawed.
 *
 * Every server started here is also killed from a `process.on("exit")` hook, so a test that forgets `stop()`
 * (or a crashing jest worker) never leaves a redis-server behind.
 *
 * @module
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { createServer } from "node:net";

/** Binary used for the test server. */
const REDIS_SERVER_BIN = "/usr/bin/redis-server";
/** The line redis-server 7 prints once it listens. */
const READY_LINE = "Ready to accept connections";
/** Upper bound on start-up, so a broken binary fails the test instead of hanging it. */
const START_TIMEOUT_MS = 10_000;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on("exit", () => {
    for (const child of live) child.kill("SIGKILL");
  });
}

/** Ask the kernel for a free loopback port (bind to 0, read it, release it). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const addr = srv.address();
      if (addr === null || typeof addr === "string") {
        srv.close();
        reject(new Error("no port"));
        return;
      }
      const { port } = addr;
      srv.close(() => resolve(port));
    });
  });
}

/** Handle on a running test redis-server. */
export interface TestRedisServer {
  /** 127.0.0.1 */
  readonly host: string;
  /** The port, stable across `kill()` / `restart()`. */
  readonly port: number;
  /** True while a child process is running. */
  running(): boolean;
  /** SIGKILL the server (mid-run outage); resolves once the process has exited. */
  kill(): Promise<void>;
  /** Start a fresh (empty) server on the same port; resolves once it accepts connections. */
  restart(): Promise<void>;
  /** SIGSTOP the server: connections stay open, commands are never answered until `thaw()`. */
  freeze(): void;
  /** SIGCONT a frozen server: it answers everything buffered meanwhile, then runs normally. */
  thaw(): void;
  /** Stop for good (SIGKILL, wait for exit). Idempotent. */
  stop(): Promise<void>;
}

function waitExit(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

function spawnServer(port: number): Promise<ChildProcess> {
  installExitHook();
  const args = [
    "--port",
    String(port),
    "--bind",
    "127.0.0.1",
    "--save",
    "",
    "--appendonly",
    "no",
    "--daemonize",
    "no",
  ];
  const child = spawn(REDIS_SERVER_BIN, args, { stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  child.once("exit", () => live.delete(child));
  return new Promise((resolve, reject) => {
    let out = "";
    const timer = setTimeout(
      () => fail(new Error(`redis-server did not start on ${port}: ${out}`)),
      START_TIMEOUT_MS,
    );
    const onData = (chunk: Buffer): void => {
      out += chunk.toString("utf8");
      if (out.includes(READY_LINE)) {
        cleanup();
        // Keep draining output so the pipe never fills up and blocks the server.
        child.stdout?.resume();
        resolve(child);
      }
    };
    const onExit = (): void => fail(new Error(`redis-server exited during start on ${port}: ${out}`));
    function cleanup(): void {
      clearTimeout(timer);
      child.stdout?.off("data", onData);
      child.off("exit", onExit);
      child.off("error", fail);
    }
    function fail(err: Error): void {
      cleanup();
      child.kill("SIGKILL");
      reject(err);
    }
    child.stdout?.on("data", onData);
    child.stderr?.resume();
    child.once("exit", onExit);
    child.once("error", fail);
  });
}

/** Start a private redis-server on a free loopback port and wait until it accepts connections. */
export async function startRedisServer(): Promise<TestRedisServer> {
  const port = await freePort();
  let child: ChildProcess | undefined = await spawnServer(port);
  const killChild = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (c === undefined) return;
    c.kill("SIGKILL");
    await waitExit(c);
  };
  return {
    host: "127.0.0.1",
    port,
    running: () => child !== undefined,
    kill: killChild,
    async restart(): Promise<void> {
      await killChild();
      child = await spawnServer(port);
    },
    freeze() {
      if (child === undefined || !child.kill("SIGSTOP")) throw new Error("redis-server is not running");
    },
    thaw() {
      if (child === undefined || !child.kill("SIGCONT")) throw new Error("redis-server is not running");
    },
    stop: killChild,
  };
}
