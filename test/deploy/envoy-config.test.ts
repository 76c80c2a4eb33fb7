/**
 * envoy/envoy.yaml is what users copy: check the parts kvroute depends on, since no Envoy runs here. Also the
 * access-log example of docs/observability.md, which users copy into it.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { envoyProtoChecker } from "./envoy-proto-check";
import { gracefulCloseSetting } from "./envoy-runtime";
import { DECISION_KEYS, KVROUTE_NAMESPACE } from "../../src/extproc/replies";

type Obj = Record<string, unknown>;
const doc = parse(readFileSync(path.resolve(__dirname, "../../envoy/envoy.yaml"), "utf8")) as Obj;

function at(o: unknown, ...keys: (string | number)[]): unknown {
  return keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);
}

const hcm = at(doc, "static_resources", "listeners", 0, "filter_chains", 0, "filters", 0, "typed_config");
const filters = at(hcm, "http_filters") as Obj[];
const extProc = filters.find((f) => f["name"] === "envoy.filters.http.ext_proc")?.["typed_config"] as Obj;
const clusters = at(doc, "static_resources", "clusters") as Obj[];

describe("envoy/envoy.yaml", () => {
  it("is a valid Bootstrap by Envoy's official protos (every field, enum, duration and typed_config)", () => {
    // The whole file, recursing through every `typed_config` (HCM, ext_proc, router, ExtProcPerRoute,
    // HttpProtocolOptions). status_on_error is newer than the protos' snapshot: see SNAPSHOT_GAPS.
    expect(envoyProtoChecker().check(doc, "envoy.config.bootstrap.v3.Bootstrap")).toEqual([]);
  });

  it("every ext_proc filter and cluster block also passes on its own", () => {
    const checker = envoyProtoChecker();
    // typed_config is an Any: its "@type" selects the ExternalProcessor message.
    expect(checker.check(extProc, "google.protobuf.Any")).toEqual([]);
    expect(extProc["@type"]).toMatch(/ext_proc.v3.ExternalProcessor$/);
    for (const c of clusters) expect(checker.check(c, "envoy.config.cluster.v3.Cluster")).toEqual([]);
  });

  it("runs ext_proc before the router with the processing mode kvroute expects", () => {
    expect(filters.map((f) => f["name"])).toEqual([
      "envoy.filters.http.ext_proc",
      "envoy.filters.http.router",
    ]);
    expect(extProc["processing_mode"]).toEqual({
      request_header_mode: "SEND",
      request_body_mode: "BUFFERED",
      response_header_mode: "SEND",
      response_body_mode: "STREAMED",
      request_trailer_mode: "SKIP",
      response_trailer_mode: "SKIP",
    });
    expect(extProc["failure_mode_allow"]).toBe(false);
    expect(extProc["message_timeout"]).toMatch(/^\d+s$/);
    expect(at(extProc, "metadata_options", "receiving_namespaces", "untyped")).toEqual([
      "envoy.lb",
      "kvroute",
    ]);
    // The gateway's served-endpoint report reaches kvroute only when envoy.lb is forwarded.
    expect(at(extProc, "metadata_options", "forwarding_namespaces", "untyped")).toEqual(["envoy.lb"]);
  });

  it("routes to an ORIGINAL_DST cluster keyed on target-pod, and reaches kvroute over HTTP/2 on :50052", () => {
    const odc = clusters.find((c) => c["name"] === "original_destination_cluster");
    expect(odc).toMatchObject({
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      original_dst_lb_config: { use_http_header: true, http_header_name: "target-pod" },
    });
    const kv = clusters.find((c) => c["name"] === "kvroute_ext_proc");
    expect(JSON.stringify(kv)).toContain("http2_protocol_options");
    expect(JSON.stringify(kv)).toContain('"port_value":50052');
    expect(at(extProc, "grpc_service", "envoy_grpc", "cluster_name")).toBe("kvroute_ext_proc");
  });

  it("trusts the peer address, not x-forwarded-for, to tell internal clients (their x-envoy-* headers are stripped)", () => {
    expect(at(hcm, "use_remote_address")).toBe(true);
  });

  it("turns on graceful ext_proc stream close in its runtime (no RST_STREAM per request)", () => {
    expect(gracefulCloseSetting(doc)).toBe(true);
  });
});

describe("docs/observability.md's access-log example", () => {
  const markdown = readFileSync(path.resolve(__dirname, "../../docs/observability.md"), "utf8");
  const section = markdown.slice(markdown.indexOf("## The decision in Envoy's access log"));
  const yaml = /```yaml\n([\s\S]*?)```/.exec(section)?.[1] ?? "";
  const example = parse(yaml) as Obj;

  it("is a valid access_log for the listener's HttpConnectionManager", () => {
    const checker = envoyProtoChecker();
    // Each entry is an AccessLog; its typed_config (an Any) is checked as the StdoutAccessLog it names.
    for (const entry of at(example, "access_log") as Obj[])
      expect(checker.check(entry, "envoy.config.accesslog.v3.AccessLog")).toEqual([]);
    expect(Object.keys(example)).toEqual(["access_log"]);
  });

  it("prints every key of the kvroute namespace, which envoy.yaml lets kvroute write", () => {
    const format = JSON.stringify(at(example, "access_log", 0, "typed_config", "log_format", "json_format"));
    for (const key of Object.values(DECISION_KEYS))
      expect(format).toContain(`%DYNAMIC_METADATA(kvroute:${key})%`);
    expect(at(extProc, "metadata_options", "receiving_namespaces", "untyped")).toContain(KVROUTE_NAMESPACE);
  });
});
