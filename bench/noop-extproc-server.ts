/**
 * The floor for the ext_proc benchmark: a gRPC server on kvroute's own proto definition that does no routing work.
 * Each message gets the minimal reply of the matching kind, except `request_body`, which gets a fixed decision of
 * the same shape kvroute sends (`target-pod` and `x-gateway-destination-endpoint` set, `clear_route_cache`, the
 * `envoy.lb` dynamic metadata) so the reply sizes are comparable. Client half-close ends the stream with OK.
 *
 * Forked by `children.ts`: binds 127.0.0.1:0, reports `{ t: "listening", grpcPort }` over IPC, answers CPU queries
 * (`child-ipc.ts`), and exits when the parent goes away or on SIGTERM.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { ProcessingRequest, ProcessingResponse } from "../src/extproc/messages";
import { loadExtProcDefinition } from "../src/extproc/proto";
import type { ListeningMessage } from "./child-ipc";
import { serveCpuQueries } from "./child-ipc";

/** The address every decision of the floor points at (a header value nobody dials; loopback all the same). */
const FIXED_POD = "127.0.0.1:8000"; // loopback-check: not-dialled (a header value)

const header = (key: string, value: string): { header: { key: string; raw_value: Buffer } } => ({
  header: { key, raw_value: Buffer.from(value, "latin1") },
});

/** The fixed decision reply to `request_body`. */
const DECISION: ProcessingResponse = {
  request_body: {
    response: {
      header_mutation: {
        set_headers: [header("target-pod", FIXED_POD), header("x-gateway-destination-endpoint", FIXED_POD)],
      },
      clear_route_cache: true,
    },
  },
  dynamic_metadata: {
    fields: {
      "envoy.lb": {
        structValue: { fields: { "x-gateway-destination-endpoint": { stringValue: FIXED_POD } } },
      },
    },
  },
};

/** Reply per request kind (the `request` oneof case name); anything else gets an empty reply. */
const REPLIES: Readonly<Record<string, ProcessingResponse>> = {
  request_headers: { request_headers: {} },
  request_body: DECISION,
  request_trailers: { request_trailers: {} },
  response_headers: { response_headers: {} },
  response_body: { response_body: {} },
  response_trailers: { response_trailers: {} },
};

/** The `Process` handler: one reply per message, stream ended when the client half-closes. */
function processStream(call: grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>): void {
  call.on("data", (msg: ProcessingRequest) => {
    call.write(REPLIES[msg.request ?? ""] ?? {});
  });
  call.on("end", () => call.end());
  call.on("error", () => undefined);
}

/** Start the server and report the port. */
function start(): void {
  const server = new grpc.Server();
  server.addService(loadExtProcDefinition().processService, { Process: processStream });
  const stop = (): void => {
    server.forceShutdown();
    process.exit(0);
  };
  serveCpuQueries(stop);
  process.once("SIGTERM", stop);
  process.once("SIGINT", stop);
  server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, port) => {
    if (err) {
      process.stderr.write(`noop-extproc-server: bind failed: ${err.message}\n`);
      process.exit(1);
    }
    const msg: ListeningMessage = { t: "listening", grpcPort: port };
    process.send?.(msg);
  });
}

start();
