/**
 * Wire compatibility of kvroute's hand-written ext_proc protos (`proto/`) with Envoy's official protos as shipped in
 * `@grpc/grpc-js-xds` (an older API snapshot). Envoy is the client, so requests are encoded with the official
 * serializer and decoded with ours, and responses the other way round, using the grpc-js method functions that
 * actually run on each side of the stream.
 */
import path from "node:path";
import * as grpc from "@grpc/grpc-js";
import * as protoLoader from "@grpc/proto-loader";
import type { ProcessingRequest, ProcessingResponse, ProtoStruct } from "../../src/extproc/messages";
import { EXT_PROC_PROCESS_PATH, EXT_PROC_PROTO_FILE, loadExtProcDefinition } from "../../src/extproc/proto";
import { EXT_PROC_LOADER_OPTIONS } from "../../src/extproc/proto-options";

type Method = grpc.MethodDefinition<unknown, unknown>;

const XDS_DEPS = path.join(path.dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");

function loadOfficial(): { def: protoLoader.PackageDefinition; process: Method } {
  const includeDirs = ["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) =>
    path.join(XDS_DEPS, d),
  );
  const def = protoLoader.loadSync(EXT_PROC_PROTO_FILE, { ...EXT_PROC_LOADER_OPTIONS, includeDirs });
  const root = grpc.loadPackageDefinition(def) as unknown as {
    envoy: { service: { ext_proc: { v3: { ExternalProcessor: grpc.ServiceClientConstructor } } } };
  };
  const process = root.envoy.service.ext_proc.v3.ExternalProcessor.service["Process"];
  if (process === undefined) throw new Error("official ExternalProcessor has no Process method");
  return { def, process };
}

const ours = loadExtProcDefinition();
const oursProcess = ours.processService.Process;
const official = loadOfficial();
const officialProcess = official.process;

/** Envoy -> kvroute: official encode, our decode. Also checks our re-encode is byte-identical. */
function envoyToKvroute(request: object): unknown {
  const wire = officialProcess.requestSerialize(request);
  const decoded = oursProcess.requestDeserialize(wire);
  expect(oursProcess.requestSerialize(decoded)).toStrictEqual(wire);
  return decoded;
}

/** kvroute -> Envoy: our encode, official decode. */
function kvrouteToEnvoy(response: ProcessingResponse): unknown {
  return officialProcess.responseDeserialize(oursProcess.responseSerialize(response));
}

const raw = (s: string): Buffer => Buffer.from(s, "latin1");
const hv = (key: string, value: string): { key: string; raw_value: Buffer } => ({
  key,
  raw_value: raw(value),
});
/** A length-delimited field whose tag and length each fit in one byte. */
const ld = (tag: number, ...payload: number[]): number[] => {
  expect(payload.length).toBeLessThan(128);
  return [tag, payload.length, ...payload];
};

describe("service definition", () => {
  test("our Process is the bidi-streaming method Envoy calls, at the same path as the official one", () => {
    expect(oursProcess.path).toBe("/envoy.service.ext_proc.v3.ExternalProcessor/Process");
    expect(EXT_PROC_PROCESS_PATH).toBe(oursProcess.path);
    expect(oursProcess.requestStream).toBe(true);
    expect(oursProcess.responseStream).toBe(true);
    expect(officialProcess.path).toBe(oursProcess.path);
    expect(officialProcess.requestStream).toBe(true);
    expect(officialProcess.responseStream).toBe(true);
  });
});

describe("ProcessingRequest: official encode, our decode", () => {
  test("request_headers with raw_value, legacy value, metadata_context and attributes", () => {
    const request = {
      request_headers: {
        headers: {
          headers: [
            hv(":method", "POST"),
            hv(":path", "/v1/chat/completions"),
            hv("x-request-id", "3f2a-\xff"),
            { key: "x-legacy", value: "v" },
          ],
        },
        end_of_stream: false,
      },
      metadata_context: {
        filter_metadata: { "envoy.lb": { fields: { zone: { stringValue: "a" } } } },
      },
      attributes: {
        "envoy.filters.http.ext_proc": { fields: { "request.size": { numberValue: 42 } } },
      },
    };
    const decoded = envoyToKvroute(request);
    expect(decoded).toStrictEqual({
      request: "request_headers",
      request_headers: request.request_headers,
      metadata_context: {
        filter_metadata: { "envoy.lb": { fields: { zone: { stringValue: "a", kind: "stringValue" } } } },
      },
      attributes: {
        "envoy.filters.http.ext_proc": {
          fields: { "request.size": { numberValue: 42, kind: "numberValue" } },
        },
      },
    });
    const headers = (decoded as { request_headers: { headers: { headers: { raw_value?: unknown }[] } } })
      .request_headers.headers.headers;
    expect(Buffer.isBuffer(headers[2]?.raw_value)).toBe(true);
  });

  test.each([
    ["response_headers", { headers: { headers: [hv(":status", "200")] }, end_of_stream: true }],
    ["request_body", { body: raw('{"model":"m","prompt":"hi"}'), end_of_stream: true }],
    ["request_body", { body: Buffer.alloc(0), end_of_stream: true }],
    ["response_body", { body: raw('data: {"usage":{}}\n\n'), end_of_stream: false }],
    ["request_trailers", { trailers: { headers: [hv("grpc-status", "0")] } }],
    ["response_trailers", { trailers: { headers: [hv("x-trailer", "t")] } }],
  ])("%s", (kase, payload) => {
    expect(envoyToKvroute({ [kase]: payload })).toStrictEqual({ request: kase, [kase]: payload });
  });

  test("observability_mode rides along with any case", () => {
    const payload = { body: raw("chunk"), end_of_stream: false };
    expect(envoyToKvroute({ request_body: payload, observability_mode: true })).toStrictEqual({
      request: "request_body",
      request_body: payload,
      observability_mode: true,
    });
  });
});

describe("ProcessingResponse: our encode, official decode", () => {
  const setTargetPod = { header: hv("target-pod", "10.0.0.1:8000") };

  test("headers response: set_headers raw_value (overwrite and append), remove_headers, clear_route_cache", () => {
    const response = {
      status: "CONTINUE_AND_REPLACE" as const,
      header_mutation: {
        set_headers: [setTargetPod, { header: hv("x-kv", "1"), append: { value: true } }],
        remove_headers: ["x-client-target", "content-length"],
      },
      clear_route_cache: true,
    };
    expect(kvrouteToEnvoy({ request_headers: { response } })).toStrictEqual({
      response: "request_headers",
      request_headers: { response },
    });
  });

  test("body response with header_mutation and body_mutation.body, plus dynamic_metadata envoy.lb", () => {
    const response = {
      header_mutation: { set_headers: [setTargetPod] },
      body_mutation: { body: raw('{"model":"rewritten"}') },
    };
    const decoded = kvrouteToEnvoy({
      request_body: { response },
      dynamic_metadata: {
        fields: {
          "envoy.lb": {
            structValue: { fields: { "x-gateway-destination-endpoint": { stringValue: "10.0.0.1:8000" } } },
          },
        },
      },
    });
    expect(decoded).toStrictEqual({
      response: "request_body",
      request_body: {
        response: { ...response, body_mutation: { ...response.body_mutation, mutation: "body" } },
      },
      dynamic_metadata: {
        fields: {
          "envoy.lb": {
            kind: "structValue",
            structValue: {
              fields: {
                "x-gateway-destination-endpoint": { stringValue: "10.0.0.1:8000", kind: "stringValue" },
              },
            },
          },
        },
      },
    });
  });

  test("snake_case google.protobuf.Value keys are silently dropped (why messages.ts uses camelCase there)", () => {
    const snake = { fields: { "envoy.lb": { struct_value: { fields: {} } } } } as unknown as ProtoStruct;
    const decoded = kvrouteToEnvoy({ request_headers: {}, dynamic_metadata: snake });
    expect(decoded).toStrictEqual({
      response: "request_headers",
      request_headers: {},
      dynamic_metadata: { fields: { "envoy.lb": {} } },
    });
  });

  test.each([
    [400, "BadRequest"],
    [413, "PayloadTooLarge"],
    [501, "NotImplemented"],
    [503, "ServiceUnavailable"],
  ])("immediate_response %d encodes a numeric code Envoy reads as %s", (code, name) => {
    const headers = {
      set_headers: [
        { header: hv("content-type", "application/json") },
        { header: hv("x-error-routing", "true") },
      ],
    };
    const body = raw(`{"error":{"code":${code}}}`);
    const wire = oursProcess.responseSerialize({
      immediate_response: { status: { code }, headers, body, details: `kvroute_${code}` },
    });
    // ImmediateResponse (7) > status (1) > code (1) as a varint: the number itself is on the wire.
    expect(wire.subarray(0, 7)).toStrictEqual(
      Buffer.from([0x3a, wire[1] ?? 0, 0x0a, 0x03, 0x08, (code & 0x7f) | 0x80, code >> 7]),
    );
    expect(officialProcess.responseDeserialize(wire)).toStrictEqual({
      response: "immediate_response",
      immediate_response: { status: { code: name }, headers, body, details: `kvroute_${code}` },
    });
  });

  test("mode_override switches the request body to BUFFERED; override_message_timeout is a Duration", () => {
    const mode_override = { request_body_mode: "BUFFERED", response_body_mode: "STREAMED" } as const;
    // messages.ts does not type override_message_timeout (kvroute does not send it yet); the proto has it.
    const override_message_timeout = { seconds: "5", nanos: 250_000_000 };
    const response = { request_headers: {}, mode_override, override_message_timeout };
    expect(kvrouteToEnvoy(response as ProcessingResponse)).toStrictEqual({
      response: "request_headers",
      ...response,
    });
  });

  test.each(["request_trailers", "response_trailers"] as const)(
    "%s response with a header_mutation",
    (kase) => {
      const trailers = { header_mutation: { set_headers: [setTargetPod], remove_headers: ["x-t"] } };
      expect(kvrouteToEnvoy({ [kase]: trailers })).toStrictEqual({ response: kase, [kase]: trailers });
    },
  );
});

describe("fields newer than the official snapshot", () => {
  // The hand-built bytes below are the contract: tag = field number << 3 | wire type (0 varint, 2 length-delimited).
  test("ProcessingRequest.protocol_config (11, tag 0x5a) with FULL_DUPLEX_STREAMED=4 and GRPC=5", () => {
    const wire = Buffer.from([
      ...ld(0x12, 0x18, 0x01), // request_headers (2) { end_of_stream (3): true }
      ...ld(0x5a, 0x08, 0x04, 0x10, 0x05, 0x18, 0x01), // protocol_config (11) { 1: 4, 2: 5, 3: true }
    ]);
    const decoded: ProcessingRequest = {
      request: "request_headers",
      request_headers: { end_of_stream: true },
      protocol_config: {
        request_body_mode: "FULL_DUPLEX_STREAMED",
        response_body_mode: "GRPC",
        send_body_without_waiting_for_header_response: true,
      },
    };
    expect(oursProcess.requestDeserialize(wire)).toStrictEqual(decoded);
    expect(oursProcess.requestSerialize(decoded)).toStrictEqual(wire);
    // The old decoder skips the unknown field 11 instead of failing.
    expect(officialProcess.requestDeserialize(wire)).toStrictEqual({
      request: "request_headers",
      request_headers: { end_of_stream: true },
    });
  });

  test("HttpBody.end_of_stream_without_message (3) and grpc_message_compressed (4)", () => {
    const wire = Buffer.from(ld(0x22, 0x0a, 0x01, 0x78, 0x10, 0x01, 0x18, 0x01, 0x20, 0x01));
    const body = { body: raw("x"), end_of_stream: true };
    expect(oursProcess.requestDeserialize(wire)).toStrictEqual({
      request: "request_body",
      request_body: { ...body, end_of_stream_without_message: true, grpc_message_compressed: true },
    });
    expect(officialProcess.requestDeserialize(wire)).toStrictEqual({
      request: "request_body",
      request_body: body,
    });
  });

  test("BodyMutation.streamed_response (3, tag 0x1a) for FULL_DUPLEX_STREAMED replies", () => {
    // request_body (3) > response (1) > body_mutation (3) > streamed_response (3) { body "hi", end_of_stream }
    const streamed = [0x0a, 0x02, 0x68, 0x69, 0x10, 0x01];
    const wire = Buffer.from(ld(0x1a, ...ld(0x0a, ...ld(0x1a, ...ld(0x1a, ...streamed)))));
    const response: ProcessingResponse = {
      request_body: {
        response: { body_mutation: { streamed_response: { body: raw("hi"), end_of_stream: true } } },
      },
    };
    expect(oursProcess.responseSerialize(response)).toStrictEqual(wire);
    expect(oursProcess.responseDeserialize(wire)).toStrictEqual({
      response: "request_body",
      request_body: {
        response: {
          body_mutation: {
            mutation: "streamed_response",
            streamed_response: { body: raw("hi"), end_of_stream: true },
          },
        },
      },
    });
    expect(officialProcess.responseDeserialize(wire)).toStrictEqual({
      response: "request_body",
      request_body: { response: { body_mutation: {} } },
    });
  });

  test("mode_override with FULL_DUPLEX_STREAMED=4: the old decoder keeps the unknown enum as a number", () => {
    const wire = Buffer.from([...ld(0x0a), ...ld(0x4a, 0x18, 0x04, 0x20, 0x04)]);
    const response: ProcessingResponse = {
      request_headers: {},
      mode_override: {
        request_body_mode: "FULL_DUPLEX_STREAMED",
        response_body_mode: "FULL_DUPLEX_STREAMED",
      },
    };
    expect(oursProcess.responseSerialize(response)).toStrictEqual(wire);
    expect(officialProcess.responseDeserialize(wire)).toStrictEqual({
      response: "request_headers",
      request_headers: {},
      mode_override: { request_body_mode: 4, response_body_mode: 4 },
    });
  });

  test("streamed_immediate_response (11) and request_drain (12) are skipped by the old decoder", () => {
    const wire = Buffer.from([...ld(0x5a, ...ld(0x12, 0x0a, 0x01, 0x78, 0x10, 0x01)), 0x60, 0x01]);
    expect(oursProcess.responseDeserialize(wire)).toStrictEqual({
      response: "streamed_immediate_response",
      streamed_immediate_response: {
        response: "body_response",
        body_response: { body: raw("x"), end_of_stream: true },
      },
      request_drain: true,
    });
    expect(officialProcess.responseDeserialize(wire)).toStrictEqual({});
  });
});

/** The parts of proto-loader's descriptor objects (`DescriptorProto`, `EnumDescriptorProto`) compared here. */
type EnumDesc = { name: string; value: { name: string; number: number }[] };
type MessageDesc = {
  field: { name: string; number: number; type: string; typeName: string; label: string }[];
  enumType: EnumDesc[];
};

/** Every message field and enum value of `def`, keyed `Type.field` / `Type.Enum.VALUE`, for the shared packages. */
function schema(def: protoLoader.PackageDefinition): Map<string, string> {
  const out = new Map<string, string>();
  const enumValues = (prefix: string, e: EnumDesc): void => {
    for (const v of e.value) out.set(`${prefix}.${v.name}`, String(v.number));
  };
  for (const name of Object.keys(ours.packageDefinition)) {
    // Service entries have no `format`; only message and enum descriptors are compared.
    const entry = def[name] as { format?: string; type?: unknown } | undefined;
    if (entry?.format === undefined || !name.startsWith("envoy.")) continue;
    if (entry.format.endsWith("EnumDescriptorProto")) {
      enumValues(name, entry.type as EnumDesc);
      continue;
    }
    const msg = entry.type as MessageDesc;
    for (const f of msg.field) out.set(`${name}.${f.name}`, `${f.number} ${f.label} ${f.type} ${f.typeName}`);
    for (const e of msg.enumType) enumValues(`${name}.${e.name}`, e);
  }
  return out;
}

describe("schema against the official descriptors", () => {
  const mine = schema(ours.packageDefinition);
  const theirs = schema(official.def);

  test("every field and enum value both define has the same number, label and type", () => {
    const shared = [...mine.keys()].filter((k) => theirs.has(k));
    expect(shared.length).toBeGreaterThan(100);
    for (const key of shared) expect([key, mine.get(key)]).toStrictEqual([key, theirs.get(key)]);
  });

  test("differences are exactly the newer-than-snapshot additions and the deliberate omissions", () => {
    // Whole messages the snapshot lacks are listed by type; their fields are checked by the round trips above.
    const newTypes = ["ProtocolConfiguration", "StreamedBodyResponse", "StreamedImmediateResponse"];
    for (const t of newTypes) expect(official.def[`envoy.service.ext_proc.v3.${t}`]).toBeUndefined();
    const isNewType = (k: string): boolean =>
      newTypes.some((t) => k.startsWith(`envoy.service.ext_proc.v3.${t}.`));
    const onlyMine = [...mine.keys()].filter((k) => !theirs.has(k) && !isNewType(k));
    expect(onlyMine.sort()).toStrictEqual([
      "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode.FULL_DUPLEX_STREAMED",
      "envoy.extensions.filters.http.ext_proc.v3.ProcessingMode.BodySendMode.GRPC",
      "envoy.service.ext_proc.v3.BodyMutation.streamed_response",
      "envoy.service.ext_proc.v3.HttpBody.end_of_stream_without_message",
      "envoy.service.ext_proc.v3.HttpBody.grpc_message_compressed",
      "envoy.service.ext_proc.v3.ProcessingRequest.protocol_config",
      "envoy.service.ext_proc.v3.ProcessingResponse.request_drain",
      "envoy.service.ext_proc.v3.ProcessingResponse.streamed_immediate_response",
    ]);
    const onlyTheirs = [...theirs.keys()].filter((k) => !mine.has(k));
    expect(onlyTheirs.sort()).toStrictEqual([
      "envoy.config.core.v3.Metadata.typed_filter_metadata",
      "envoy.service.ext_proc.v3.HttpHeaders.attributes",
    ]);
  });
});
