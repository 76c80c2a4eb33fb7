/**
 * Field names of the Kubernetes objects kvroute ships (Envoy Gateway policies, Gateway API routes, the Inference
 * Extension's InferencePool, Istio's EnvoyFilter/VirtualService), with the Envoy config embedded in them pulled out
 * for the proto checker. No API server runs here, so this is how a misspelt `processingMode` or `endpointPickerRef`
 * is caught.
 *
 * The shapes are closed (an unknown key is an error) only where kvroute writes values; subtrees it does not use are
 * `"any"`. Sources (JSON tags of the upstream Go types):
 * - Envoy Gateway api/v1alpha1 (envoyproxy/gateway d32f282, v1.9): `envoyextensionypolicy_types.go`,
 *   `ext_proc_types.go`, `shared_types.go` (BackendCluster), `envoypatchpolicy_types.go`,
 *   `clienttrafficpolicy_types.go`, `connection_types.go`, `policy_helpers.go`, `envoyproxy_types.go`.
 * - Inference Extension api/v1 (kubernetes-sigs/gateway-api-inference-extension 84436a9):
 *   `inferencepool_types.go`, `shared_types.go`.
 * - Gateway API v1 `Gateway`/`HTTPRoute`/`BackendTLSPolicy`; Istio `networking/v1alpha3/envoy_filter.proto`,
 *   `virtual_service.proto`, `gateway.proto`.
 */
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import type { EnvoyProtoChecker } from "./envoy-proto-check";
import { joinPath } from "./envoy-proto-check";

export type Shape = "scalar" | "any" | { readonly [key: string]: Shape } | readonly [Shape];

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

export interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string };
  spec: Obj;
}

/** Every document of a multi-document YAML file (empty documents dropped). */
export function loadK8sObjects(file: string): K8sObject[] {
  return parseAllDocuments(readFileSync(file, "utf8"))
    .map((d) => d.toJS() as unknown)
    .filter((o): o is K8sObject => isObj(o));
}

const S = "scalar";
const policyRef: Shape = { group: S, kind: S, name: S, sectionName: S };
const backendRefFields = {
  group: S,
  kind: S,
  name: S,
  namespace: S,
  port: S,
  weight: S,
  fallback: S,
} as const;
const backendRef: Shape = backendRefFields;
const extProc: Shape = {
  backendRef,
  backendRefs: [backendRef],
  backendSettings: "any",
  messageTimeout: S,
  failOpen: S,
  processingMode: {
    request: { body: S, attributes: [S] },
    response: { body: S, attributes: [S] },
    allowModeOverride: S,
  },
  shadowMode: S,
  metadata: { accessibleNamespaces: [S], writableNamespaces: [S] },
  statusOnError: S,
};
const targets = { targetRef: policyRef, targetRefs: [policyRef], targetSelectors: "any" } as const;
const httpBackendRef: Shape = { ...backendRefFields, filters: "any" };
const istioMatch: Shape = {
  context: S,
  proxy: "any",
  listener: {
    portNumber: S,
    name: S,
    listenerFilter: S,
    filterChain: {
      name: S,
      sni: S,
      transportProtocol: S,
      applicationProtocols: S,
      destinationPort: S,
      filter: { name: S, subFilter: { name: S } },
    },
  },
  routeConfiguration: {
    portNumber: S,
    portName: S,
    gateway: S,
    name: S,
    vhost: { name: S, domainName: S, route: { name: S, action: S } },
  },
  cluster: { portNumber: S, service: S, subset: S, name: S },
};

/** apiVersion and `spec` shape per kind. */
export const K8S_KINDS: Readonly<Record<string, { apiVersion: string; spec: Shape }>> = {
  EnvoyExtensionPolicy: {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    spec: { ...targets, mergeType: S, wasm: "any", extProc: [extProc], lua: "any", dynamicModule: "any" },
  },
  EnvoyPatchPolicy: {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    spec: {
      type: S,
      targetRef: policyRef,
      priority: S,
      jsonPatches: [{ type: S, name: S, operation: { op: S, path: S, jsonPath: S, from: S, value: "any" } }],
    },
  },
  ClientTrafficPolicy: {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    spec: {
      ...targets,
      connection: {
        connectionLimit: "any",
        bufferLimit: S,
        socketBufferLimit: S,
        maxAcceptPerSocketEvent: S,
      },
    },
  },
  EnvoyProxy: {
    apiVersion: "gateway.envoyproxy.io/v1alpha1",
    spec: {
      provider: "any",
      logging: "any",
      telemetry: "any",
      shutdown: "any",
      concurrency: S,
      extraArgs: [S],
      mergeGateways: S,
      routingType: S,
      filterOrder: "any",
      backendTLS: "any",
      ipFamily: S,
      preserveRouteOrder: S,
      luaValidation: S,
      bootstrap: { type: S, value: S, jsonPatches: "any" },
    },
  },
  Gateway: {
    apiVersion: "gateway.networking.k8s.io/v1",
    spec: {
      gatewayClassName: S,
      listeners: [{ name: S, hostname: S, port: S, protocol: S, tls: "any", allowedRoutes: "any" }],
      addresses: "any",
      infrastructure: { labels: "any", annotations: "any", parametersRef: { group: S, kind: S, name: S } },
    },
  },
  HTTPRoute: {
    apiVersion: "gateway.networking.k8s.io/v1",
    spec: {
      parentRefs: [{ group: S, kind: S, namespace: S, name: S, sectionName: S, port: S }],
      hostnames: [S],
      rules: [
        {
          name: S,
          matches: [{ path: { type: S, value: S }, headers: "any", queryParams: "any", method: S }],
          filters: "any",
          backendRefs: [httpBackendRef],
          timeouts: { request: S, backendRequest: S },
          retry: "any",
          sessionPersistence: "any",
        },
      ],
    },
  },
  BackendTLSPolicy: {
    apiVersion: "gateway.networking.k8s.io/v1",
    spec: {
      targetRefs: [policyRef],
      validation: {
        caCertificateRefs: [{ group: S, kind: S, name: S }],
        wellKnownCACertificates: S,
        hostname: S,
        subjectAltNames: "any",
      },
      options: "any",
    },
  },
  InferencePool: {
    apiVersion: "inference.networking.k8s.io/v1",
    spec: {
      selector: { matchLabels: "any" },
      targetPorts: [{ number: S }],
      appProtocol: S,
      endpointPickerRef: { group: S, kind: S, name: S, port: { number: S }, failureMode: S },
    },
  },
  EnvoyFilter: {
    apiVersion: "networking.istio.io/v1alpha3",
    spec: {
      workloadSelector: { labels: "any" },
      targetRefs: "any",
      priority: S,
      configPatches: [
        { applyTo: S, match: istioMatch, patch: { operation: S, value: "any", filterClass: S } },
      ],
    },
  },
  // Istio's Gateway shares its kind with Gateway API's: keyed by group/kind (see k8sObjectErrors).
  "networking.istio.io/Gateway": {
    apiVersion: "networking.istio.io/v1",
    spec: {
      selector: "any",
      servers: [
        {
          port: { number: S, protocol: S, name: S, targetPort: S },
          bind: S,
          hosts: [S],
          tls: "any",
          name: S,
        },
      ],
    },
  },
  VirtualService: {
    apiVersion: "networking.istio.io/v1",
    spec: {
      hosts: [S],
      gateways: [S],
      exportTo: [S],
      tcp: "any",
      tls: "any",
      http: [
        {
          name: S,
          match: [{ uri: { exact: S, prefix: S, regex: S }, headers: "any", method: "any", port: S }],
          route: [{ destination: { host: S, subset: S, port: { number: S } }, weight: S, headers: "any" }],
          timeout: S,
          retries: "any",
          rewrite: "any",
          headers: "any",
        },
      ],
    },
  },
};

/** Unknown keys and wrong container types under `shape`. */
export function shapeErrors(value: unknown, shape: Shape, at: string): string[] {
  if (shape === "any") return [];
  if (shape === S) {
    return ["string", "number", "boolean"].includes(typeof value) ? [] : [`${at}: expected a scalar`];
  }
  if (Array.isArray(shape)) {
    if (!Array.isArray(value)) return [`${at}: expected a list`];
    const item = shape[0] as Shape;
    return value.flatMap((v, i) => shapeErrors(v, item, joinPath(at, i)));
  }
  if (!isObj(value)) return [`${at}: expected an object`];
  const fields = shape as Readonly<Record<string, Shape>>;
  return Object.entries(value).flatMap(([k, v]) => {
    const sub = fields[k];
    return sub === undefined ? [`${joinPath(at, k)}: unknown field`] : shapeErrors(v, sub, joinPath(at, k));
  });
}

/** apiVersion, metadata.name and spec field names of one object. */
export function k8sObjectErrors(obj: K8sObject): string[] {
  const where = `${obj.kind}/${obj.metadata?.name ?? "?"}`;
  const known = K8S_KINDS[`${obj.apiVersion.split("/")[0]}/${obj.kind}`] ?? K8S_KINDS[obj.kind];
  if (known === undefined) return [`${where}: kind not covered by K8S_KINDS`];
  const errors = shapeErrors(obj.spec, known.spec, `${where}.spec`);
  if (obj.apiVersion !== known.apiVersion)
    errors.push(`${where}: apiVersion ${obj.apiVersion}, want ${known.apiVersion}`);
  if (typeof obj.metadata?.name !== "string") errors.push(`${where}: metadata.name missing`);
  return errors;
}

/** What an Istio `applyTo` patches: the Envoy message type of `patch.value`. */
export const ISTIO_APPLY_TO: Readonly<Record<string, string>> = {
  LISTENER: "envoy.config.listener.v3.Listener",
  FILTER_CHAIN: "envoy.config.listener.v3.FilterChain",
  NETWORK_FILTER: "envoy.config.listener.v3.Filter",
  HTTP_FILTER: "envoy.extensions.filters.network.http_connection_manager.v3.HttpFilter",
  ROUTE_CONFIGURATION: "envoy.config.route.v3.RouteConfiguration",
  VIRTUAL_HOST: "envoy.config.route.v3.VirtualHost",
  HTTP_ROUTE: "envoy.config.route.v3.Route",
  CLUSTER: "envoy.config.cluster.v3.Cluster",
  EXTENSION_CONFIG: "envoy.config.core.v3.TypedExtensionConfig",
  BOOTSTRAP: "envoy.config.bootstrap.v3.Bootstrap",
  LISTENER_FILTER: "envoy.config.listener.v3.ListenerFilter",
};

/** Proto errors in every `patch.value` of an Istio EnvoyFilter (MERGE values are partial, but field names hold). */
export function envoyFilterErrors(obj: K8sObject, checker: EnvoyProtoChecker): string[] {
  const patches = (obj.spec["configPatches"] ?? []) as Obj[];
  return patches.flatMap((p, i) => {
    const at = `EnvoyFilter/${obj.metadata.name}.spec.configPatches[${i}].patch.value`;
    const applyTo = String(p["applyTo"]);
    const type = ISTIO_APPLY_TO[applyTo];
    const patch = (p["patch"] ?? {}) as Obj;
    if (patch["value"] === undefined) return [];
    if (type === undefined) return [`${at}: applyTo ${applyTo} has no known Envoy type`];
    return checker.check(patch["value"], type, at, { partial: patch["operation"] === "MERGE" });
  });
}

/**
 * Proto errors in every JSONPatch `value` of an Envoy Gateway EnvoyPatchPolicy: the resource type comes from the
 * patch's `type`, the message at `path` from walking the proto (`/virtual_hosts/0/routes/0` is a Route). A
 * `jsonPath` selector cannot be typed statically, so it is reported rather than skipped.
 */
export function envoyPatchPolicyErrors(obj: K8sObject, checker: EnvoyProtoChecker): string[] {
  const patches = (obj.spec["jsonPatches"] ?? []) as Obj[];
  return patches.flatMap((p, i) => {
    const at = `EnvoyPatchPolicy/${obj.metadata.name}.spec.jsonPatches[${i}].operation.value`;
    const url = String(p["type"]);
    const type = url.slice(url.lastIndexOf("/") + 1);
    const op = (p["operation"] ?? {}) as Obj;
    if (!["add", "replace", "test"].includes(String(op["op"])) || op["value"] === undefined) return [];
    if (op["jsonPath"] !== undefined) return [`${at}: jsonPath patches cannot be type-checked here`];
    try {
      return checker.checkAtPointer(op["value"], type, String(op["path"] ?? ""), at);
    } catch (e) {
      return [`${at}: ${(e as Error).message}`];
    }
  });
}
