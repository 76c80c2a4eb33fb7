/**
 * envoy/istio/ as one set of manifests: every Gateway a VirtualService names is shipped (and selects the gateway
 * pods the EnvoyFilters patch), and strict-mtls.yaml, for model servers under Istio STRICT mTLS, adds the same
 * ORIGINAL_DST cluster with Istio's mutual TLS and moves the inference route onto it after envoyfilter.yaml's patch.
 * Gateway API routes in envoy/envoy-gateway/ likewise name only the Gateway shipped beside them.
 */
import { readdirSync } from "node:fs";
import path from "node:path";
import { envoyProtoChecker } from "./envoy-proto-check";
import type { K8sObject } from "./k8s-shapes";
import { envoyFilterErrors, loadK8sObjects } from "./k8s-shapes";

type Obj = Record<string, unknown>;
const ENVOY_DIR = path.resolve(__dirname, "../../envoy");
const loadDir = (dir: string): K8sObject[] =>
  readdirSync(path.join(ENVOY_DIR, dir))
    .filter((f) => f.endsWith(".yaml"))
    .flatMap((f) => loadK8sObjects(path.join(ENVOY_DIR, dir, f)));
function at(o: unknown, ...keys: (string | number)[]): unknown {
  return keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);
}
const ns = (o: K8sObject): string => o.metadata.namespace ?? "default";

const istio = loadDir("istio");
const istioGateways = istio.filter(
  (o) => o.kind === "Gateway" && o.apiVersion.startsWith("networking.istio.io/"),
);
const filters = istio.filter((o) => o.kind === "EnvoyFilter");
const base = filters.find((f) => f.metadata.name === "kvroute") as K8sObject;
const mtls = filters.find((f) => f.metadata.name === "kvroute-strict-mtls") as K8sObject;
const patches = (f: K8sObject): Obj[] => f.spec["configPatches"] as Obj[];
const addedCluster = (f: K8sObject, name: string): Obj | undefined =>
  patches(f)
    .filter((p) => p["applyTo"] === "CLUSTER")
    .map((p) => at(p, "patch", "value") as Obj)
    .find((c) => c["name"] === name);

describe("envoy/istio: Gateways", () => {
  it("every Gateway a VirtualService names is shipped", () => {
    const defined = new Set(istioGateways.map((g) => `${ns(g)}/${g.metadata.name}`));
    const services = istio.filter((o) => o.kind === "VirtualService");
    expect(services.length).toBeGreaterThan(0);
    const refs = services.flatMap((vs) =>
      ((vs.spec["gateways"] ?? []) as string[]).map((g) => (g.includes("/") ? g : `${ns(vs)}/${g}`)),
    );
    expect(refs.length).toBeGreaterThan(0);
    expect(refs.filter((r) => !defined.has(r))).toEqual([]);
  });

  it("the Gateway selects the pods the EnvoyFilters patch, with an HTTP server on :80 (the pods' :8080)", () => {
    for (const g of istioGateways) {
      for (const f of filters)
        expect(at(g.spec, "selector")).toEqual(at(f.spec, "workloadSelector", "labels"));
      expect(at(g.spec, "servers", 0, "port")).toMatchObject({ number: 80, protocol: "HTTP" });
    }
    const listenerPorts = patches(base)
      .map((p) => at(p, "match", "listener", "portNumber"))
      .filter((p) => p !== undefined);
    expect(listenerPorts).toEqual([8080]);
  });
});

describe("envoy/istio/strict-mtls.yaml", () => {
  it("passes Envoy's protos", () => {
    expect(envoyFilterErrors(mtls, envoyProtoChecker())).toEqual([]);
  });

  it("adds the ORIGINAL_DST cluster of envoyfilter.yaml under a new name, with a TLS transport socket", () => {
    const plain = addedCluster(base, "original_destination_cluster") as Obj;
    const secure = addedCluster(mtls, "original_destination_cluster_mtls") as Obj;
    const { transport_socket: socket, ...rest } = secure;
    expect(rest).toEqual({ ...plain, name: "original_destination_cluster_mtls" });
    expect(at(socket, "typed_config", "@type")).toMatch(/tls\.v3\.UpstreamTlsContext$/);
  });

  it("uses Istio's workload certificate and mesh root from the gateway's SDS, and checks a SPIFFE identity", () => {
    const common = at(
      addedCluster(mtls, "original_destination_cluster_mtls"),
      "transport_socket",
      "typed_config",
      "common_tls_context",
    ) as Obj;
    const sdsCluster = (cfg: unknown): unknown =>
      at(cfg, "sds_config", "api_config_source", "grpc_services", 0, "envoy_grpc", "cluster_name");
    const cert = at(common, "tls_certificate_sds_secret_configs", 0);
    const root = at(common, "combined_validation_context", "validation_context_sds_secret_config");
    expect([at(cert, "name"), sdsCluster(cert)]).toEqual(["default", "sds-grpc"]);
    expect([at(root, "name"), sdsCluster(root)]).toEqual(["ROOTCA", "sds-grpc"]);
    expect(
      at(
        common,
        "combined_validation_context",
        "default_validation_context",
        "match_typed_subject_alt_names",
        0,
      ),
    ).toEqual({ san_type: "URI", matcher: { prefix: "spiffe://cluster.local/" } });
    expect(common["alpn_protocols"]).toEqual(["istio"]);
  });

  it("moves the VirtualService's inference route onto it, after envoyfilter.yaml's patch of that route", () => {
    const routes = patches(mtls).filter((p) => p["applyTo"] === "HTTP_ROUTE");
    expect(routes).toHaveLength(1);
    const name = at(routes[0], "match", "routeConfiguration", "vhost", "route", "name");
    const vsRoutes = istio
      .filter((o) => o.kind === "VirtualService")
      .flatMap((vs) => (vs.spec["http"] as Obj[]).map((r) => r["name"]));
    expect(vsRoutes).toContain(name);
    expect(at(routes[0], "patch", "value", "route", "cluster")).toBe("original_destination_cluster_mtls");
    // Istio applies EnvoyFilters in ascending priority (unset = 0): this one's route MERGE must come last.
    expect(Number(mtls.spec["priority"] ?? 0)).toBeGreaterThan(Number(base.spec["priority"] ?? 0));
    expect(at(mtls.spec, "workloadSelector")).toEqual(at(base.spec, "workloadSelector"));
  });
});

describe("envoy/envoy-gateway: Gateway API references", () => {
  it("every parentRef of an HTTPRoute (and every policy's Gateway target) is the Gateway shipped beside them", () => {
    const objs = loadDir("envoy-gateway");
    const gateways = new Set(
      objs.filter((o) => o.kind === "Gateway").map((g) => `${ns(g)}/${g.metadata.name}`),
    );
    const refs = objs.flatMap((o) => {
      const parents = o.kind === "HTTPRoute" ? ((o.spec["parentRefs"] ?? []) as Obj[]) : [];
      const targets = [o.spec["targetRef"], ...((o.spec["targetRefs"] ?? []) as unknown[])].filter(
        (t): t is Obj => (t as Obj | undefined)?.["kind"] === "Gateway",
      );
      return [...parents, ...targets].map((r) => `${String(r["namespace"] ?? ns(o))}/${String(r["name"])}`);
    });
    expect(refs.length).toBeGreaterThanOrEqual(4);
    expect(refs.filter((r) => !gateways.has(r))).toEqual([]);
  });
});
