/**
 * What other areas may use of `src/admin`: import it from here, never from a file inside.
 *
 * @module
 */
export { createGrpcHealth } from "./grpc-health";
export type { GrpcHealth } from "./grpc-health";
export { startAdminServer } from "./http-server";
export { createStatusRecorder } from "./status-recorder";
export type { StatusRecorder } from "./status-recorder";
