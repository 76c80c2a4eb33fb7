/**
 * The optional upstream TLS blocks in envoy/ (commented out: plaintext is the default) must still be right when a
 * user uncomments them: each file is uncommented between its markers and checked like the shipped form (Envoy's
 * protos, upstream Kubernetes field names), and the TLS context must speak HTTP/2 (ALPN h2) to kvroute.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse, parseAllDocuments } from "yaml";
import { envoyProtoChecker } from "./envoy-proto-check";
import type { K8sObject } from "./k8s-shapes";
import { envoyFilterErrors, k8sObjectErrors } from "./k8s-shapes";

type Obj = Record<string, unknown>;
const ENVOY_DIR = path.resolve(__dirname, "../../envoy");
const BEGIN = "# --- begin ext_proc upstream TLS ---";
const END = "# --- end ext_proc upstream TLS ---";
const checker = envoyProtoChecker();

/** The file with its TLS block uncommented (`# ` dropped after the indentation); throws when there is none. */
function uncommented(rel: string): string {
  const lines = readFileSync(path.join(ENVOY_DIR, rel), "utf8").split("\n");
  const begin = lines.findIndex((l) => l.trim() === BEGIN);
  const end = lines.findIndex((l) => l.trim() === END);
  if (begin < 0 || end <= begin) throw new Error(`${rel}: no TLS block between markers`);
  return lines.map((l, i) => (i > begin && i < end ? l.replace(/^(\s*)# ?/, "$1") : l)).join("\n");
}

const objects = (text: string): K8sObject[] =>
  parseAllDocuments(text)
    .map((d) => d.toJS() as unknown)
    .filter((o): o is K8sObject => typeof o === "object" && o !== null);

function tlsContextOf(cluster: Obj | undefined): Obj {
  const socket = cluster?.["transport_socket"] as Obj | undefined;
  expect(socket?.["name"]).toBe("envoy.transport_sockets.tls");
  const ctx = socket?.["typed_config"] as Obj;
  expect(ctx["@type"]).toMatch(/tls\.v3\.UpstreamTlsContext$/);
  expect((ctx["common_tls_context"] as Obj)["alpn_protocols"]).toEqual(["h2"]);
  return ctx;
}

describe("envoy/ upstream TLS variants, uncommented", () => {
  it("envoy.yaml: the ext_proc cluster's TLS context is a valid Bootstrap", () => {
    const doc = parse(uncommented("envoy.yaml")) as Obj;
    expect(checker.check(doc, "envoy.config.bootstrap.v3.Bootstrap")).toEqual([]);
    const clusters = (doc["static_resources"] as { clusters: Obj[] }).clusters;
    tlsContextOf(clusters.find((c) => c["name"] === "kvroute_ext_proc"));
    // Only kvroute's cluster: the model pods stay as they were.
    expect(clusters.filter((c) => c["transport_socket"] !== undefined)).toHaveLength(1);
  });

  it("istio/envoyfilter.yaml: the added cluster's TLS context passes Envoy's protos", () => {
    const objs = objects(uncommented("istio/envoyfilter.yaml"));
    const filter = objs.find((o) => o.kind === "EnvoyFilter") as K8sObject;
    expect(envoyFilterErrors(filter, checker)).toEqual([]);
    const patches = filter.spec["configPatches"] as { patch: { value?: Obj } }[];
    tlsContextOf(patches.map((p) => p.patch.value).find((v) => v?.["name"] === "kvroute_ext_proc"));
  });

  it("envoy-gateway/extension-policy.yaml: a BackendTLSPolicy on kvroute's gRPC Service port", () => {
    const objs = objects(uncommented("envoy-gateway/extension-policy.yaml"));
    expect(objs.map((o) => o.kind)).toEqual(["BackendTLSPolicy", "EnvoyExtensionPolicy"]);
    for (const o of objs) expect(k8sObjectErrors(o)).toEqual([]);
    const [policy, ext] = objs as [K8sObject, K8sObject];
    const backend = (ext.spec["extProc"] as { backendRefs: { name: string }[] }[])[0]?.backendRefs[0];
    expect(policy.spec["targetRefs"]).toEqual([
      { group: "", kind: "Service", name: backend?.name, sectionName: "grpc" },
    ]);
  });
});
