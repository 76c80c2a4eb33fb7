/**
 * The `@grpc/proto-loader` options kvroute decodes and encodes ext_proc messages with. The shapes in `messages.ts`
 * are what these options produce, so change both together.
 *
 * @module
 */
import type { Options } from "@grpc/proto-loader";

/**
 * Loader options for the ext_proc protos (without `includeDirs`, which `proto.ts` adds):
 * - `keepCase`: field names stay snake_case as in Envoy's `.proto` (`raw_value`, `end_of_stream`). The bundled
 *   protobufjs well-known types (`google.protobuf.Struct`/`Value`) are defined camelCase, so they stay camelCase.
 * - `longs: String`: 64-bit integers (only `Duration.seconds` here) decode as decimal strings, never lossy numbers.
 * - `enums: String`: enums decode as their names (`"BUFFERED"`, `"ServiceUnavailable"`); encoding accepts a name or
 *   a number.
 * - `defaults: false`: absent fields stay absent, so a decoded message holds only what was on the wire.
 * - `oneofs: true`: each oneof gets a virtual field naming the set case (`request === "request_headers"`).
 * - `bytes` is not set, so bytes fields decode as `Buffer`.
 */
export const EXT_PROC_LOADER_OPTIONS: Readonly<Options> = Object.freeze({
  keepCase: true,
  longs: String,
  enums: String,
  defaults: false,
  oneofs: true,
});
