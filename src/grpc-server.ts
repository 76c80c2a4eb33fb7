/**
 * kvroute's gRPC listeners: one `grpc.Server` carrying ext_proc's `Process` and the standard health service, with
 * the message-size limits kvroute promises Envoy and the per-connection RST_STREAM limit, bound to
 * `--grpc-bind-address` (with TLS when configured: `grpc-tls.ts`); and the optional health-only server of
 * `--grpc-health-port`. Kept apart from `server.ts` so the transport options (what gRPC refuses before a session
 * ever sees a message) are stated in one place.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { GrpcHealth } from "./admin";
import type { Config } from "./config";
import { loadExtProcDefinition } from "./extproc";
import type { ExtProcService } from "./extproc";
import { withFastCodec } from "./extproc";
import { grpcReceiveLimit } from "./grpc-limits";
import { applyStreamResetLimit } from "./grpc-stream-reset-limit";

/** A gRPC server with ext_proc and health added, not yet bound. */
export function createGrpcServer(config: Config, extProc: ExtProcService, health: GrpcHealth): grpc.Server {
  const server = new grpc.Server({
    // Above the body cap, so an oversize BUFFERED body reaches the session and gets kvroute's 413.
    "grpc.max_receive_message_length": grpcReceiveLimit(config),
    "grpc.max_send_message_length": config.grpcMaxMessageSizeBytes,
  });
  applyStreamResetLimit(server, {
    burst: config.grpcStreamResetBurst,
    ratePerSecond: config.grpcStreamResetRate,
  });
  server.addService(withFastCodec(loadExtProcDefinition().processService), { Process: extProc.process });
  health.addToServer(server);
  return server;
}

/**
 * A second gRPC server carrying only grpc.health.v1 (`--grpc-health-port`), sharing `health`'s state with the main
 * one: the reference picker probes health on its own plaintext port, apart from a TLS ext_proc port.
 */
export function createGrpcHealthServer(health: GrpcHealth): grpc.Server {
  const server = new grpc.Server();
  health.addToServer(server);
  return server;
}

/**
 * Bind `server` (no host: every IPv4 interface), plaintext unless `credentials` says otherwise; resolves with the
 * bound port.
 */
export function bindGrpcServer(
  server: grpc.Server,
  host: string | undefined,
  port: number,
  credentials: grpc.ServerCredentials = grpc.ServerCredentials.createInsecure(),
): Promise<number> {
  const address =
    host === undefined ? `0.0.0.0:${port}` : host.includes(":") ? `[${host}]:${port}` : `${host}:${port}`;
  return new Promise((resolve, reject) => {
    server.bindAsync(address, credentials, (err, bound) => (err ? reject(err) : resolve(bound)));
  });
}
