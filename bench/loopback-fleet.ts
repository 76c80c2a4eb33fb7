/**
 * The pods a benchmark's kvroute routes to: loopback HTTP servers in the benchmark process that answer every
 * request (kvroute's `/metrics` scrapes) with an empty 200, and the standalone endpoints file naming them. No request
 * is forwarded to them; they exist so that everything kvroute dials stays on 127.0.0.0/8 and its scrapes succeed
 * (an unreachable pod would be ejected by passive health and change what the benchmark measures).
 *
 * @module
 */
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
