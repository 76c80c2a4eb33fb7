/**
 * TypeScript shapes of the ext_proc messages kvroute reads and writes, as `@grpc/proto-loader` presents them with
 * the options in `proto-options.ts` (`keepCase`, `enums: String`, `longs: String`, `defaults: false`,
 * `oneofs: true`, bytes as `Buffer`). Only the fields kvroute uses are typed; the `.proto` files in `proto/` are
 * the wire truth.
 *
 * @module
 */

/** `envoy.config.core.v3.HeaderValue`. Envoy sends `raw_value`; kvroute writes `raw_value` only. */
export interface HeaderValue {
  key: string;
  value?: string;
  raw_value?: Buffer;
}

/** `envoy.config.core.v3.HeaderMap`. */
export interface HeaderMap {
  headers?: HeaderValue[];
}

/** `envoy.service.ext_proc.v3.HttpHeaders`. */
export interface HttpHeaders {
  headers?: HeaderMap;
  /** True when no body follows. */
  end_of_stream?: boolean;
}

/** `envoy.service.ext_proc.v3.HttpBody`. */
export interface HttpBody {
  body?: Buffer;
  end_of_stream?: boolean;
}

/** `envoy.service.ext_proc.v3.HttpTrailers`. */
export interface HttpTrailers {
  trailers?: HeaderMap;
}

/** `envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode`. */
export type BodySendMode =
  "NONE" | "STREAMED" | "BUFFERED" | "BUFFERED_PARTIAL" | "FULL_DUPLEX_STREAMED" | "GRPC";

/** `envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.HeaderSendMode`. */
export type HeaderSendMode = "DEFAULT" | "SEND" | "SKIP";

/** `envoy.service.ext_proc.v3.ProtocolConfiguration` (first message of a stream, newer Envoys only). */
export interface ProtocolConfiguration {
  request_body_mode?: BodySendMode;
  response_body_mode?: BodySendMode;
  send_body_without_waiting_for_header_response?: boolean;
}

/** The `request` oneof case names of `ProcessingRequest`. */
export type RequestCase =
  | "request_headers"
  | "response_headers"
  | "request_body"
  | "response_body"
  | "request_trailers"
  | "response_trailers";

/** `envoy.service.ext_proc.v3.ProcessingRequest`. `request` names the oneof case that is set. */
export interface ProcessingRequest {
  request?: RequestCase;
  request_headers?: HttpHeaders;
  response_headers?: HttpHeaders;
  request_body?: HttpBody;
  response_body?: HttpBody;
  request_trailers?: HttpTrailers;
  response_trailers?: HttpTrailers;
  observability_mode?: boolean;
  protocol_config?: ProtocolConfiguration;
  /** Envoy's metadata for this request; carries the endpoint-picker subset hint (`subset-hint.ts`). */
  metadata_context?: Metadata;
}

/**
 * `envoy.config.core.v3.Metadata`: `filter_metadata` is a map of namespace to `google.protobuf.Struct`. Off the
 * wire, so every part may be missing.
 */
export interface Metadata {
  filter_metadata?: Record<string, { fields?: Record<string, ProtoValue> }>;
}

/** `envoy.config.core.v3.HeaderValueOption`. `append` left unset means overwrite (ext_proc's default). */
export interface HeaderValueOption {
  header: { key: string; raw_value: Buffer };
  append?: { value: boolean };
}

/** `envoy.service.ext_proc.v3.HeaderMutation`. */
export interface HeaderMutation {
  set_headers?: HeaderValueOption[];
  remove_headers?: string[];
}

/** `envoy.service.ext_proc.v3.StreamedBodyResponse` (FULL_DUPLEX_STREAMED). */
export interface StreamedBodyResponse {
  body?: Buffer;
  end_of_stream?: boolean;
}

/** `envoy.service.ext_proc.v3.BodyMutation` (oneof `mutation`). */
export interface BodyMutation {
  body?: Buffer;
  clear_body?: boolean;
  streamed_response?: StreamedBodyResponse;
}

/** `envoy.service.ext_proc.v3.CommonResponse`. */
export interface CommonResponse {
  status?: "CONTINUE" | "CONTINUE_AND_REPLACE";
  header_mutation?: HeaderMutation;
  body_mutation?: BodyMutation;
  clear_route_cache?: boolean;
}

/** `HeadersResponse` and `BodyResponse`. */
export interface PhaseResponse {
  response?: CommonResponse;
}

/** `TrailersResponse`. */
export interface TrailersResponse {
  header_mutation?: HeaderMutation;
}

/** `envoy.service.ext_proc.v3.ImmediateResponse`. `status.code` is the numeric HTTP status. */
export interface ImmediateResponse {
  status: { code: number };
  headers?: HeaderMutation;
  body?: Buffer;
  details?: string;
}

/**
 * `google.protobuf.Value` as proto-loader presents it (oneof `kind`). camelCase despite `keepCase`: protobufjs
 * supplies the well-known types from its bundled JSON, which names these fields camelCase, and snake_case keys are
 * silently dropped on encode.
 */
export interface ProtoValue {
  stringValue?: string;
  numberValue?: number;
  boolValue?: boolean;
  structValue?: ProtoStruct;
  listValue?: ProtoListValue;
}

/** `google.protobuf.ListValue`. */
export interface ProtoListValue {
  values?: ProtoValue[];
}

/** `google.protobuf.Struct`. */
export interface ProtoStruct {
  fields: Record<string, ProtoValue>;
}

/** `envoy.extensions.filters.http.ext_proc.v3.ProcessingMode`. */
export interface ProcessingMode {
  request_header_mode?: HeaderSendMode;
  response_header_mode?: HeaderSendMode;
  request_body_mode?: BodySendMode;
  response_body_mode?: BodySendMode;
  request_trailer_mode?: HeaderSendMode;
  response_trailer_mode?: HeaderSendMode;
}

/** `envoy.service.ext_proc.v3.ProcessingResponse`: exactly one of the phase fields or `immediate_response`. */
export interface ProcessingResponse {
  request_headers?: PhaseResponse;
  response_headers?: PhaseResponse;
  request_body?: PhaseResponse;
  response_body?: PhaseResponse;
  request_trailers?: TrailersResponse;
  response_trailers?: TrailersResponse;
  immediate_response?: ImmediateResponse;
  dynamic_metadata?: ProtoStruct;
  mode_override?: ProcessingMode;
}

const REQUEST_CASES: readonly RequestCase[] = [
  "request_headers",
  "request_body",
  "response_headers",
  "response_body",
  "request_trailers",
  "response_trailers",
];

/**
 * Which `request` oneof case a message carries: proto-loader's virtual `request` field when present, else the
 * first case field that is set (for messages built in memory). `undefined` for an empty message.
 */
export function requestCase(msg: ProcessingRequest): RequestCase | undefined {
  if (msg.request) return msg.request;
  return REQUEST_CASES.find((c) => msg[c] !== undefined);
}
