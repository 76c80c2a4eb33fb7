/**
 * The pods a benchmark's kvroute routes to: loopback HTTP servers in the benchmark process that answer every
 * request (kvroute's `/metrics` scrapes) with an empty 200, and the standalone endpoints file naming them. No request
 * is forwarded to them; they exist so that everything kvroute dials stays on 127.0.0.0/8 and its scrapes succeed
 * (an unreachable pod would be ejected by passive health and change what the benchmark measures).
 * `startLoopbackFleetProcess` runs them in a child process, so their CPU is not the load generator's.
 *
 * @module
 */
import { forkCompiled } from "./compiled";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import http from "node:http";
import os from "node:os";
import path from "node:path";

/** A running loopback fleet. */
export interface LoopbackFleet {
  /** `127.0.0.1:<port>` of each pod, in the file's order. */
  readonly endpoints: readonly string[];
  /** The endpoints file (one model, every pod). */
  readonly endpointsFile: string;
  /** Close the pods and remove the file. */
  close(): void;
}

/** Start `pods` loopback pods serving `model` and write their endpoints file into a fresh temporary directory. */
export async function startLoopbackFleet(model: string, pods: number): Promise<LoopbackFleet> {
  const servers = await Promise.all(
    Array.from(
      { length: pods },
      () =>
        new Promise<http.Server>((resolve) => {
          const s = http.createServer((_req, res) => res.end(""));
          s.listen(0, "127.0.0.1", () => resolve(s));
        }),
    ),
  );
  const endpoints = servers.map((s) => {
    const a = s.address();
    return `127.0.0.1:${typeof a === "object" && a ? a.port : 0}`;
  });
  const dir = mkdtempSync(path.join(os.tmpdir(), "kvroute-bench-"));
  const endpointsFile = path.join(dir, "endpoints.yaml");
  writeFileSync(
    endpointsFile,
    `models:\n  - name: ${model}\n    endpoints:\n${endpoints.map((e) => `      - "${e}"\n`).join("")}`,
  );
  return {
    endpoints,
    endpointsFile,
    close() {
      for (const s of servers) s.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Child → parent: the pods of `loopback-fleet-child.ts` are listening. */
export interface FleetMessage {
  readonly t: "fleet";
  readonly endpoints: readonly string[];
  readonly endpointsFile: string;
}

function isFleetMessage(m: unknown): m is FleetMessage {
  return typeof m === "object" && m !== null && (m as { t?: unknown }).t === "fleet";
}

const FLEET_START_TIMEOUT_MS = 30_000;

/**
 * `startLoopbackFleet` in a child process (`loopback-fleet-child.ts`): the same pods and file, but their scrape
 * answers are not charged to the calling process. `close()` stops the child (which removes the file); the child
 * also exits when this process goes away.
 */
export function startLoopbackFleetProcess(model: string, pods: number): Promise<LoopbackFleet> {
  const child = forkCompiled("loopback-fleet-child.ts", [model, String(pods)], {
    stdio: ["ignore", "ignore", "inherit", "ipc"],
  });
  return new Promise<LoopbackFleet>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error("loopback fleet process did not start in time"));
    }, FLEET_START_TIMEOUT_MS);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`loopback fleet process exited with code ${String(code)}`));
    });
    child.on("message", (m: unknown) => {
      if (!isFleetMessage(m)) return;
      clearTimeout(timer);
      resolve({
        endpoints: m.endpoints,
        endpointsFile: m.endpointsFile,
        close: () => void child.kill("SIGTERM"),
      });
    });
  });
}
