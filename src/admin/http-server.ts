/**
 * The operational HTTP port (`:8080`): `/metrics`, `/v1/models`, `/healthz`, `/readyz`, `/debug/state`.
 * Nothing here is on the request path; it reads the same snapshots routing reads.
 *
 * @module
 */
import http from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "prom-client";
import type { ClusterStore, LoadTracker } from "../cluster";
import { endpointName } from "../cluster";

/** What the admin server reads. */
export interface AdminDeps {
  readonly registry: Registry;
  readonly cluster: ClusterStore;
  readonly load: LoadTracker;
  /** Ready to take traffic: pods loaded and not draining. */
  readonly isReady: () => boolean;
  readonly isDraining: () => boolean;
  /** Extra per-pod facts for `/debug/state` (engine metrics in use, scrape age, observations). */
  readonly podDetails?: (podKey: string) => Record<string, unknown>;
  /** Extra top-level facts for `/debug/state` (discovery status, …). */
  readonly extraState?: () => Record<string, unknown>;
  /** Registered strategy types and the configured default, for `/debug/state`. */
  readonly routing: { readonly strategies: readonly string[]; readonly defaultStrategy: string };
}

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

function stateBody(deps: AdminDeps): string {
  const snap = deps.cluster.snapshot();
  const pods = [...snap.pods.values()].map((p) => ({
    key: p.key,
    name: p.name,
    namespace: p.namespace,
    address: p.address,
    ...(p.dataParallelRank === undefined ? {} : { dataParallelRank: p.dataParallelRank }),
    metricsPort: p.metricsPort,
    models: p.models,
    adapters: p.adapters,
    ready: p.ready,
    engine: p.engine,
    inflight: deps.load.get(p.key),
    ...deps.podDetails?.(p.key),
  }));
  const models = Object.fromEntries([...snap.models].map(([m, ps]) => [m, ps.map(endpointName)]));
  return JSON.stringify({
    version: snap.version,
    loaded: snap.loaded,
    ready: deps.isReady(),
    draining: deps.isDraining(),
    inflightTotal: deps.load.totalRequests(),
    routing: deps.routing,
    ...deps.extraState?.(),
    models,
    pods,
  });
}

async function handle(deps: AdminDeps, req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
  const path = (req.url ?? "/").split("?")[0];
  if (req.method !== "GET" && req.method !== "HEAD") {
    send(res, 405, JSON.stringify({ error: "method not allowed" }));
    return;
  }
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
      send(res, 200, stateBody(deps));
      return;
    default:
      send(res, 404, JSON.stringify({ error: "not found" }));
  }
}

/** Listen on `host:port` (`host` empty = all interfaces). */
export function startAdminServer(deps: AdminDeps, host: string, port: number): Promise<AdminServer> {
  const server = http.createServer((req, res) => {
    handle(deps, req, res).catch(() => {
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
