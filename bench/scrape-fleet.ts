/**
 * The parent side of `scrape-endpoints.ts`: fork it (compiled), wait for its ports, ask its CPU over IPC, stop
 * it. The child is SIGKILLed if this process exits first (and stops itself when the IPC channel closes).
 *
 * @module
 */
import { forkCompiled } from "./compiled";
import { isCpuReply } from "./child-ipc";
import type { CpuQuery } from "./child-ipc";
import type { BodyKind } from "./scrape-body";

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** Child → parent: every endpoint is listening, on these ports (one per pod). */
export interface EndpointsMessage {
  readonly t: "endpoints";
  readonly ports: readonly number[];
}

/** Narrow an IPC message to an {@link EndpointsMessage}. */
function isEndpoints(m: unknown): m is EndpointsMessage {
  return typeof m === "object" && m !== null && (m as { t?: unknown }).t === "endpoints";
}

/** The running endpoint child. */
export interface EndpointFleet {
  /** One port per pod on 127.0.0.1. */
  readonly ports: readonly number[];
  /** The child's CPU time so far (user + system, µs). */
  cpuMicros(): Promise<number>;
  /** SIGTERM, then SIGKILL after a timeout. */
  stop(): Promise<void>;
}

/** Start `pods` endpoints serving `body` in one child process. */
export function startEndpointFleet(pods: number, body: BodyKind): Promise<EndpointFleet> {
  const child = forkCompiled("scrape-endpoints.ts", ["--pods", String(pods), "--body", body], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const kill = (): void => {
    child.kill("SIGKILL");
  };
  process.once("exit", kill);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let nextId = 1;
  const waiters = new Map<number, (micros: number) => void>();
  child.on("message", (m: unknown) => {
    if (!isCpuReply(m)) return;
    waiters.get(m.id)?.(m.userMicros + m.systemMicros);
    waiters.delete(m.id);
  });
  return new Promise<EndpointFleet>((resolve, reject) => {
    const timer = setTimeout(() => {
      kill();
      reject(new Error("scrape endpoints did not start in time"));
    }, START_TIMEOUT_MS);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error("scrape endpoints exited before listening"));
    });
    child.on("message", (m: unknown) => {
      if (!isEndpoints(m)) return;
      clearTimeout(timer);
      resolve({
        ports: m.ports,
        cpuMicros: () =>
          new Promise<number>((res, rej) => {
            const id = nextId++;
            const t = setTimeout(() => {
              waiters.delete(id);
              rej(new Error("scrape endpoints did not answer a CPU query"));
            }, STOP_TIMEOUT_MS);
            waiters.set(id, (micros) => {
              clearTimeout(t);
              res(micros);
            });
            const q: CpuQuery = { t: "cpu?", id };
            child.send(q);
          }),
        async stop() {
          process.removeListener("exit", kill);
          if (child.exitCode !== null || child.signalCode !== null) return;
          child.kill("SIGTERM");
          const t = setTimeout(kill, STOP_TIMEOUT_MS);
          await exited;
          clearTimeout(t);
        },
      });
    });
  });
}
