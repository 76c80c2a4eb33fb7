/**
 * The operational HTTP port (`:8080`): `/metrics`, `/v1/models`, `/healthz`, `/readyz`, `/debug/state`, and the
 * live status page (`/`, `/ui`, `/ui/status.json`, see `status-page.ts`) unless it is turned off.
 * Nothing here is on the request path; it reads the same snapshots routing reads.
 *
 * @module
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { ClusterStore } from "../cluster";
import { debugState } from "./debug-state";
import type { DebugStateDeps } from "./debug-state";
import { createStatusPageHandler } from "./status-page";
import type { StatusPageDeps } from "./status-page";

/** What the admin server reads: the `/debug/state` sources, the metrics registry and the status page's. */
export interface AdminDeps extends DebugStateDeps {
  readonly registry: Registry;
  /** The live status page; absent: not served (404). */
  readonly statusPage?: StatusPageDeps;
}

type StatusHandler = ReturnType<typeof createStatusPageHandler>;

/** A running admin server. */
export interface AdminServer {
  /** The bound port (useful with port 0). */
  readonly port: number;
  close(): Promise<void>;
}

function send(res: http.ServerResponse, status: number, body: string, type = "application/json"): void {
  res.writeHead(status, { "content-type": type, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** `/v1/models` in AIBrix's (OpenAI's) list format: every model with at least one pod. */
function modelsBody(cluster: ClusterStore): string {
  const data = [...cluster.snapshot().models.keys()]
    .sort()
    .map((id) => ({ id, object: "model", created: 0, owned_by: "aibrix" }));
  return JSON.stringify({ object: "list", data });
}

async function handle(
  deps: AdminDeps,
  status: StatusHandler | undefined,
  req: http.IncomingMessage,
  res: http.ServerResponse,
): Promise<void> {
  const path = (req.url ?? "/").split("?")[0] ?? "/";
  if (req.method !== "GET" && req.method !== "HEAD") {
    send(res, 405, JSON.stringify({ error: "method not allowed" }));
    return;
  }
  if (status?.(path, req, res)) return;
  switch (path) {
    case "/metrics":
      send(res, 200, await deps.registry.metrics(), deps.registry.contentType);
      return;
    case "/v1/models":
      send(res, 200, modelsBody(deps.cluster));
      return;
    case "/healthz":
      send(res, 200, JSON.stringify({ status: "ok" }));
      return;
    case "/readyz": {
      const ready = deps.isReady();
      send(res, ready ? 200 : 503, JSON.stringify({ status: ready ? "ready" : "not ready" }));
      return;
    }
    case "/debug/state":
      send(res, 200, JSON.stringify(debugState(deps)));
      return;
    default:
      send(res, 404, JSON.stringify({ error: "not found" }));
  }
}

/** Listen on `host:port` (`host` empty = all interfaces). */
export function startAdminServer(deps: AdminDeps, host: string, port: number): Promise<AdminServer> {
  const status = deps.statusPage ? createStatusPageHandler(deps.statusPage, deps) : undefined;
  const server = http.createServer((req, res) => {
    handle(deps, status, req, res).catch(() => {
      if (!res.headersSent) send(res, 500, JSON.stringify({ error: "internal error" }));
      else res.destroy();
    });
  });
  // Idle keep-alive sockets must not hold shutdown open.
  server.keepAliveTimeout = 5_000;
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, host || undefined, () => {
      server.off("error", reject);
      resolve({
        port: (server.address() as AddressInfo).port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            server.closeAllConnections();
          }),
      });
    });
  });
}
