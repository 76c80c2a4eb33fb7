/**
 * The Kubernetes-side Envoy wiring in envoy/ (Istio EnvoyFilter, Envoy Gateway policies, Inference Extension
 * InferencePool): upstream field names and apiVersions (k8s-shapes.ts), the Envoy config embedded in them against
 * Envoy's official protos, and the cross-references between objects that no single schema sees.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { SETTINGS } from "../../src/config/settings";
import { envoyProtoChecker } from "./envoy-proto-check";
import { gracefulCloseSetting } from "./envoy-runtime";
import type { K8sObject } from "./k8s-shapes";
import { envoyFilterErrors, envoyPatchPolicyErrors, k8sObjectErrors, loadK8sObjects } from "./k8s-shapes";

type Obj = Record<string, unknown>;
const ENVOY_DIR = path.resolve(__dirname, "../../envoy");
const load = (rel: string): K8sObject[] => loadK8sObjects(path.join(ENVOY_DIR, rel));
const one = (objs: K8sObject[], kind: string): K8sObject => {
  const found = objs.filter((o) => o.kind === kind);
  expect(found).toHaveLength(1);
  return found[0] as K8sObject;
};
function at(o: unknown, ...keys: (string | number)[]): unknown {
  return keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);
}
const port = (key: "grpcBindAddress" | "httpBindAddress"): number =>
  Number(SETTINGS[key].type.defaultText?.split(":").pop());
const GRPC_PORT = port("grpcBindAddress");
const HTTP_PORT = port("httpBindAddress");

const checker = envoyProtoChecker();
/** The standalone config's ext_proc processing mode: every other config must ask Envoy for the same. */
const standalone = JSON.stringify(parse(readFileSync(path.join(ENVOY_DIR, "envoy.yaml"), "utf8")));
const PROCESSING_MODE = {
  request_header_mode: "SEND",
  request_body_mode: "BUFFERED",
  response_header_mode: "SEND",
  response_body_mode: "STREAMED",
  request_trailer_mode: "SKIP",
  response_trailer_mode: "SKIP",
};
const ORIGINAL_DST = {
  name: "original_destination_cluster",
  type: "ORIGINAL_DST",
  lb_policy: "CLUSTER_PROVIDED",
  original_dst_lb_config: { use_http_header: true, http_header_name: "target-pod" },
};

const FILES = {
  "istio/envoyfilter.yaml": ["VirtualService", "EnvoyFilter"],
  "istio/gateway.yaml": ["Gateway"],
  "istio/strict-mtls.yaml": ["EnvoyFilter"],
  "envoy-gateway/gateway.yaml": ["Gateway", "EnvoyProxy", "ClientTrafficPolicy"],
  "envoy-gateway/httproute.yaml": ["HTTPRoute", "HTTPRoute"],
  "envoy-gateway/extension-policy.yaml": ["EnvoyExtensionPolicy"],
  "envoy-gateway/patch-policy.yaml": ["EnvoyPatchPolicy"],
  "inference-extension/inferencepool.yaml": ["InferencePool", "HTTPRoute"],
};

describe.each(Object.entries(FILES))("envoy/%s", (file, kinds) => {
  it("has the expected objects, each with upstream apiVersion and field names", () => {
    const objs = load(file);
    expect(objs.map((o) => o.kind)).toEqual(kinds);
    expect(objs.flatMap(k8sObjectErrors)).toEqual([]);
  });
});

describe("envoy/istio/envoyfilter.yaml", () => {
  const objs = load("istio/envoyfilter.yaml");
  const filter = one(objs, "EnvoyFilter");
  const patches = filter.spec["configPatches"] as Obj[];
  const values = (applyTo: string): Obj[] =>
    patches.filter((p) => p["applyTo"] === applyTo).map((p) => at(p, "patch", "value") as Obj);

  it("every patch value passes Envoy's protos", () => {
    expect(envoyFilterErrors(filter, checker)).toEqual([]);
  });

  it("inserts ext_proc before the router, with the processing mode of envoy/envoy.yaml", () => {
    const httpFilter = patches.find((p) => p["applyTo"] === "HTTP_FILTER");
    expect(at(httpFilter, "patch", "operation")).toBe("INSERT_BEFORE");
    expect(at(httpFilter, "match", "listener", "filterChain", "filter", "subFilter", "name")).toBe(
      "envoy.filters.http.router",
    );
    const extProc = at(httpFilter, "patch", "value", "typed_config") as Obj;
    expect(extProc["processing_mode"]).toEqual(PROCESSING_MODE);
    expect(standalone).toContain(JSON.stringify(PROCESSING_MODE));
    expect(extProc["failure_mode_allow"]).toBe(false);
    // envoy.lb both ways: kvroute writes its decision there and reads the gateway's served-endpoint report.
    expect(at(extProc, "metadata_options")).toEqual({
      receiving_namespaces: { untyped: ["envoy.lb", "kvroute"] },
      forwarding_namespaces: { untyped: ["envoy.lb"] },
    });
  });

  it("adds the ORIGINAL_DST cluster keyed on target-pod and kvroute's HTTP/2 gRPC cluster", () => {
    const clusters = values("CLUSTER");
    expect(clusters.find((c) => c["name"] === ORIGINAL_DST.name)).toMatchObject(ORIGINAL_DST);
    const extProcCluster = at(
      values("HTTP_FILTER")[0],
      "typed_config",
      "grpc_service",
      "envoy_grpc",
      "cluster_name",
    );
    const kv = clusters.find((c) => c["name"] === extProcCluster);
    expect(JSON.stringify(kv)).toContain("http2_protocol_options");
    expect(JSON.stringify(kv)).toContain(`"port_value":${GRPC_PORT}`);
  });

  it("patches routes the VirtualService defines: inference to ORIGINAL_DST, /v1/models without ext_proc", () => {
    const vs = one(objs, "VirtualService");
    const names = (vs.spec["http"] as Obj[]).map((r) => r["name"]);
    const routePatches = patches.filter((p) => p["applyTo"] === "HTTP_ROUTE");
    for (const p of routePatches)
      expect(names).toContain(at(p, "match", "routeConfiguration", "vhost", "route", "name"));
    expect(values("HTTP_ROUTE").map((v) => at(v, "route", "cluster"))).toContain(ORIGINAL_DST.name);
    const models = (vs.spec["http"] as Obj[]).find((r) => at(r, "match", 0, "uri", "exact") === "/v1/models");
    expect(at(models, "route", 0, "destination", "port", "number")).toBe(HTTP_PORT);
  });

  it("turns on graceful ext_proc stream close in the gateway's bootstrap runtime", () => {
    const bootstrap = patches.filter((p) => p["applyTo"] === "BOOTSTRAP");
    expect(bootstrap.map((p) => at(p, "patch", "operation"))).toEqual(["MERGE"]);
    expect(gracefulCloseSetting(values("BOOTSTRAP")[0])).toBe(true);
  });
});

describe("envoy/envoy-gateway", () => {
  const gatewayFile = load("envoy-gateway/gateway.yaml");
  const gateway = one(gatewayFile, "Gateway");
  const envoyProxy = one(gatewayFile, "EnvoyProxy");
  const routes = load("envoy-gateway/httproute.yaml");
  const policy = one(load("envoy-gateway/extension-policy.yaml"), "EnvoyExtensionPolicy");
  const patch = one(load("envoy-gateway/patch-policy.yaml"), "EnvoyPatchPolicy");
  const jsonPatches = patch.spec["jsonPatches"] as Obj[];
  const extProc = at(policy.spec, "extProc", 0) as Obj;
  const inference = routes.find((r) => r.metadata.name === at(policy.spec, "targetRefs", 0, "name"));

  it("EnvoyProxy: the Gateway uses it, and its bootstrap Merge turns on graceful ext_proc stream close", () => {
    expect(at(gateway.spec, "infrastructure", "parametersRef")).toEqual({
      group: "gateway.envoyproxy.io",
      kind: "EnvoyProxy",
      name: envoyProxy.metadata.name,
    });
    expect(envoyProxy.metadata.namespace).toBe(gateway.metadata.namespace);
    expect(at(envoyProxy.spec, "bootstrap", "type")).toBe("Merge");
    const bootstrap = parse(String(at(envoyProxy.spec, "bootstrap", "value"))) as Obj;
    expect(
      checker.check(bootstrap, "envoy.config.bootstrap.v3.Bootstrap", "bootstrap", { partial: true }),
    ).toEqual([]);
    expect(gracefulCloseSetting(bootstrap)).toBe(true);
  });

  it("EnvoyExtensionPolicy: kvroute's gRPC port, Buffered request body, Streamed response body, closed", () => {
    expect(inference?.kind).toBe("HTTPRoute");
    expect(at(extProc, "backendRefs", 0, "port")).toBe(GRPC_PORT);
    expect(extProc["processingMode"]).toMatchObject({
      request: { body: "Buffered" },
      response: { body: "Streamed" },
    });
    expect(extProc["failOpen"]).toBe(false);
    expect(extProc["messageTimeout"]).toMatch(/^\d+s$/);
    expect(extProc["metadata"]).toEqual({
      accessibleNamespaces: ["envoy.lb"],
      writableNamespaces: ["envoy.lb", "kvroute"],
    });
    // The ExtProcBodyProcessingMode enum of Envoy Gateway's API.
    const modes = ["Streamed", "Buffered", "BufferedPartial", "FullDuplexStreamed"];
    expect(modes).toEqual(expect.arrayContaining([at(extProc, "processingMode", "request", "body")]));
  });

  it("EnvoyPatchPolicy: every JSONPatch value passes Envoy's protos at its path", () => {
    expect(patch.spec["type"]).toBe("JSONPatch");
    expect(envoyPatchPolicyErrors(patch, checker)).toEqual([]);
  });

  it("EnvoyPatchPolicy: patches this Gateway's listener and enables this policy's ext_proc filter", () => {
    expect(patch.spec["targetRef"]).toEqual({
      group: "gateway.networking.k8s.io",
      kind: "Gateway",
      name: "eg",
    });
    expect(patch.metadata.namespace).toBe(gateway.metadata.namespace);
    const listener = at(gateway.spec, "listeners", 0, "name");
    const rc = jsonPatches.find((p) => String(p["type"]).endsWith(".RouteConfiguration"));
    expect(rc?.["name"]).toBe(`${gateway.metadata.namespace}/${gateway.metadata.name}/${listener}`);
    const route = at(rc, "operation", "value") as Obj;
    expect(at(route, "route", "cluster")).toBe(ORIGINAL_DST.name);
    const filterName = `envoy.filters.http.ext_proc/envoyextensionpolicy/${policy.metadata.namespace}/${policy.metadata.name}/extproc/0`;
    expect(Object.keys(route["typed_per_filter_config"] as Obj)).toEqual([filterName]);
    const cluster = jsonPatches.find((p) => String(p["type"]).endsWith(".Cluster"));
    expect(at(cluster, "operation", "value")).toMatchObject(ORIGINAL_DST);
  });

  it("route 0 matches exactly the HTTPRoute's path prefixes, and not /v1/models", () => {
    const rc = jsonPatches.find((p) => String(p["type"]).endsWith(".RouteConfiguration"));
    const regex = new RegExp(String(at(rc, "operation", "value", "match", "safe_regex", "regex")));
    const prefixes = (at(inference?.spec, "rules", 0, "matches") as Obj[]).map((m) =>
      String(at(m, "path", "value")),
    );
    expect(prefixes.length).toBeGreaterThan(3);
    for (const p of prefixes) expect([p, regex.test(p), regex.test(`${p}/x`)]).toEqual([p, true, true]);
    for (const p of ["/v1/models", "/v1/chat/completionsx", "/metrics"])
      expect([p, regex.test(p)]).toEqual([p, false]);
    const models = routes.find((r) => r !== inference);
    expect(at(models?.spec, "rules", 0, "backendRefs", 0, "port")).toBe(HTTP_PORT);
  });
});

describe("envoy/inference-extension/inferencepool.yaml", () => {
  const objs = load("inference-extension/inferencepool.yaml");
  const pool = one(objs, "InferencePool");

  it("names kvroute's gRPC port as the endpoint picker, failing closed", () => {
    expect(at(pool.spec, "endpointPickerRef", "port", "number")).toBe(GRPC_PORT);
    expect(at(pool.spec, "endpointPickerRef", "failureMode")).toBe("FailClose");
    expect(at(pool.spec, "targetPorts", 0, "number")).toEqual(expect.any(Number));
  });

  it("the HTTPRoute's backendRef is the pool", () => {
    const route = one(objs, "HTTPRoute");
    expect(at(route.spec, "rules", 0, "backendRefs", 0)).toEqual({
      group: "inference.networking.k8s.io",
      kind: "InferencePool",
      name: pool.metadata.name,
    });
  });
});
