/**
 * Puts kvroute's gRPC servers on their ports: the main one (ext_proc + health), with TLS when configured
 * (`grpc-tls.ts`), and the optional plaintext health-only one on `--grpc-health-port`. Each registers its disposer
 * before it binds (a bind that fails half-way, one address family bound, must not leave the other), so a failed
 * start closes whatever did bind.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import type { GrpcHealth } from "./admin";
import type { Config } from "./config";
import { bindGrpcServer, createGrpcHealthServer } from "./grpc-server";
import { createGrpcTls } from "./grpc-tls";
import type { Logger } from "./observability";
import type { Metrics } from "./observability";
import type { RegisterPiece } from "./lifecycle";

/** What `startGrpcListeners` needs. */
export interface GrpcListenerDeps {
  readonly config: Config;
  readonly log: Logger;
  readonly metrics: Pick<Metrics, "grpcTlsReloads">;
  /** The main server, built but not bound; its own shutdown belongs to the drain. */
  readonly grpcServer: grpc.Server;
  readonly health: GrpcHealth;
  /** Registers the certificate watcher and the health-only server: closed once the drain's streams are done. */
  readonly piece: RegisterPiece;
  /**
   * Registers the main server's forced shutdown, which matters only for a failed start: a drain shuts the server
   * down itself (gracefully) before anything else closes.
   */
  readonly serverPiece: (close: () => unknown) => void;
  readonly tlsRefreshIntervalMs?: number | undefined;
}

/** Bound ports. */
export interface GrpcListeners {
  readonly grpcPort: number;
  readonly grpcHealthPort: number | undefined;
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
  if (tls !== undefined) piece("grpc-tls", () => tls.close());
  deps.serverPiece(() => grpcServer.forceShutdown());
  const { host, port } = config.grpcBindAddress;
  const grpcPort = await bindGrpcServer(grpcServer, host, port, tls?.credentials);
  if (tls !== undefined)
    log.info({ source: tls.source, fingerprint: tls.fingerprint }, "gRPC port serves TLS");

  const healthPort = config.grpcHealthPort;
  if (healthPort === undefined) return { grpcPort, grpcHealthPort: undefined };
  const healthServer = createGrpcHealthServer(deps.health);
  piece("grpc-health", () => healthServer.forceShutdown());
  const grpcHealthPort = await bindGrpcServer(healthServer, host, healthPort);
  return { grpcPort, grpcHealthPort };
}
