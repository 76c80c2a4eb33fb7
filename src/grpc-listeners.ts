/**
 * Puts kvroute's gRPC servers on their ports: the main one (ext_proc + health), with TLS when configured
 * (`grpc-tls.ts`), and the optional plaintext health-only one on `--grpc-health-port`. Each is registered as a
 * started piece before it binds, so a failed start closes whatever did bind.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import type { GrpcHealth } from "./admin/grpc-health";
import type { Closer } from "./closing";
import type { Config } from "./config";
import { bindGrpcServer, createGrpcHealthServer } from "./grpc-server";
import { createGrpcTls } from "./grpc-tls";
import type { Logger } from "./observability/logger";
import type { Metrics } from "./observability/metrics";

/** What `startGrpcListeners` needs. */
export interface GrpcListenerDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, "grpcTlsReloads">;
  /** The main server, built but not bound; its own shutdown belongs to the drain. */
  readonly grpcServer: grpc.Server;
  readonly health: GrpcHealth;
  /** Records a started piece (closed if the start fails). */
  readonly piece: (name: string, close: () => unknown) => Closer;
  readonly tlsRefreshIntervalMs?: number | undefined;
}

/** Bound ports, and what to close once the drain is over. */
export interface GrpcListeners {
  readonly grpcPort: number;
  readonly grpcHealthPort: number | undefined;
  /** The certificate watcher and the health-only server: closed after the streams are done. */
  readonly closers: readonly Closer[];
}

/**
 * Bind the gRPC servers.
 *
 * @throws when TLS files are unusable (naming the settings) or a port cannot be bound.
 */
export async function startGrpcListeners(deps: GrpcListenerDeps): Promise<GrpcListeners> {
  const { config, log, metrics, grpcServer, piece } = deps;
  const tls = await createGrpcTls(config, {
    ...(deps.tlsRefreshIntervalMs === undefined ? {} : { refreshIntervalMs: deps.tlsRefreshIntervalMs }),
    onReload: ({ result, reason, fingerprint }) => {
      metrics.grpcTlsReloads.inc({ result });
      if (result === "applied") log.info({ fingerprint }, "gRPC TLS certificate reloaded");
      else
        log.warn(
          { reason, fingerprint },
          "gRPC TLS certificate files rejected; the previous certificate stays",
        );
    },
  });
  const closers: Closer[] = tls === undefined ? [] : [piece("grpc-tls", () => tls.close())];
  // Closed before the bind resolves too: a bind that fails half-way (one address family) must not leave the other.
  piece("grpc", () => grpcServer.forceShutdown());
  const { host, port } = config.grpcBindAddress;
  const grpcPort = await bindGrpcServer(grpcServer, host, port, tls?.credentials);
  if (tls !== undefined)
    log.info({ source: tls.source, fingerprint: tls.fingerprint }, "gRPC port serves TLS");

  const healthPort = config.grpcHealthPort;
  if (healthPort === undefined) return { grpcPort, grpcHealthPort: undefined, closers };
  const healthServer = createGrpcHealthServer(deps.health);
  const healthCloser = piece("grpc-health", () => healthServer.forceShutdown());
  const grpcHealthPort = await bindGrpcServer(healthServer, host, healthPort);
  return { grpcPort, grpcHealthPort, closers: [...closers, healthCloser] };
}
