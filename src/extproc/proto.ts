/**
 * Loads kvroute's hand-written ext_proc protos (`proto/envoy/...`) into a grpc-js service definition.
 *
 * @module
 */
import fs from "node:fs";
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProcessingRequest, ProcessingResponse } from "./messages";
import { EXT_PROC_LOADER_OPTIONS } from "./proto-options";

/** Entry file, relative to the `proto/` include dir. */
export const EXT_PROC_PROTO_FILE = "envoy/service/ext_proc/v3/external_processor.proto";

/** The gRPC method path Envoy calls. */
export const EXT_PROC_PROCESS_PATH = "/envoy.service.ext_proc.v3.ExternalProcessor/Process";

/**
 * The `ExternalProcessor` service definition with `Process` typed: on the server, `requestDeserialize` yields a
 * `ProcessingRequest` and `responseSerialize` takes a `ProcessingResponse`. Assignable to `grpc.ServiceDefinition`,
 * so it can be passed to `server.addService`.
 */
export interface ExtProcServiceDefinition extends grpc.ServiceDefinition {
  readonly Process: grpc.MethodDefinition<ProcessingRequest, ProcessingResponse>;
}

/** Result of {@link loadExtProcDefinition}. */
export interface ExtProcDefinition {
  /** Every type in the loaded protos, as proto-loader returns it. */
  packageDefinition: protoLoader.PackageDefinition;
  /** `envoy.service.ext_proc.v3.ExternalProcessor`. */
  processService: ExtProcServiceDefinition;
}

/**
 * Finds the repo's `proto/` dir by walking up from `startDir` until a directory holding `proto/envoy` appears. This
 * works from `src/extproc` (jest, tsx) and from `dist/src/extproc` (after `tsc`), which sit at different depths.
 *
 * @throws Error if no ancestor has `proto/envoy`.
 */
export function findProtoDir(startDir: string = __dirname): string {
  let dir = path.resolve(startDir);
  for (;;) {
    const candidate = path.join(dir, "proto");
    if (fs.existsSync(path.join(candidate, "envoy"))) return candidate;
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`kvroute proto/ directory not found above ${startDir}`);
    dir = parent;
  }
}

/** The first load's result: the protos do not change while the process runs. */
let loaded: ExtProcDefinition | undefined;

/**
 * Loads the ext_proc protos synchronously the first time (tens of ms) and returns the package definition and the
 * `ExternalProcessor` service definition; later calls (another server or client in the same process) return the
 * same objects, which callers treat as read-only. Google well-known types come from protobufjs's bundled copies.
 *
 * @throws Error if the protos are missing or do not define the service.
 */
export function loadExtProcDefinition(): ExtProcDefinition {
  loaded ??= readExtProcDefinition();
  return loaded;
}

function readExtProcDefinition(): ExtProcDefinition {
  const packageDefinition = protoLoader.loadSync(EXT_PROC_PROTO_FILE, {
    ...EXT_PROC_LOADER_OPTIONS,
    includeDirs: [findProtoDir()],
  });
  // loadPackageDefinition returns a loosely typed namespace tree; walk it as unknown and check the one leaf we need.
  const root: unknown = grpc.loadPackageDefinition(packageDefinition);
  const ctor = lookup(root, ["envoy", "service", "ext_proc", "v3", "ExternalProcessor"]);
  const service = lookup(ctor, ["service"]);
  const method = lookup(service, ["Process"]);
  if (lookup(method, ["path"]) !== EXT_PROC_PROCESS_PATH) {
    throw new Error(`${EXT_PROC_PROTO_FILE} does not define ${EXT_PROC_PROCESS_PATH}`);
  }
  return { packageDefinition, processService: service as ExtProcServiceDefinition };
}

/** Follows `keys` through nested objects or functions; undefined when any step is missing. */
function lookup(value: unknown, keys: readonly string[]): unknown {
  let cur = value;
  for (const key of keys) {
    if ((typeof cur !== "object" && typeof cur !== "function") || cur === null) return undefined;
    cur = (cur as Record<string, unknown>)[key];
  }
  return cur;
}
