/**
 * `grpc.health.v1` on the gRPC port, via `grpc-health-check` (Check, Watch, List). Service names:
 * - `""` and `liveness`: SERVING while the process runs;
 * - `readiness` and `envoy.service.ext_proc.v3.ExternalProcessor`: SERVING once pods are loaded and every
 *   configured tokenizer is loaded in every worker (waited for at most 30 s), NOT_SERVING before that and while
 *   draining. AIBrix's name `gateway-plugin` and the Gateway API Inference Extension picker's `inference-extension`
 *   (what its deployments and conformance suite probe) follow readiness too.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";

export const EXT_PROC_SERVICE = "envoy.service.ext_proc.v3.ExternalProcessor";
/** The names that follow readiness. */
export const READINESS_NAMES = [
  "readiness",
  EXT_PROC_SERVICE,
  "gateway-plugin",
  "inference-extension",
] as const;

/** Health state holder. */
export interface GrpcHealth {
  /** Set readiness (the readiness-tracking names). */
  setReady(ready: boolean): void;
  addToServer(server: grpc.Server): void;
}

/** Create health with liveness SERVING and readiness NOT_SERVING. */
export function createGrpcHealth(): GrpcHealth {
  const impl = new HealthImplementation({
    "": "SERVING",
    liveness: "SERVING",
    ...Object.fromEntries(READINESS_NAMES.map((n) => [n, "NOT_SERVING" as const])),
  });
  return {
    setReady(ready) {
      for (const n of READINESS_NAMES) impl.setStatus(n, ready ? "SERVING" : "NOT_SERVING");
    },
    addToServer: (server) => impl.addToServer(server),
  };
}
