/**
 * charts/kvroute's gRPC TLS and health-port values, rendered by the real helm: a cert Secret mounted as a directory
 * (so rotations reach kvroute) and named by the TLS env vars, the self-signed flag, the probes moved to the
 * plaintext health port, and the combinations refused at render time.
 */
import { renderChart } from "./helm-render";
import type { Obj } from "./helm-render";
import { k8sObjectErrors } from "./k8s-shapes";
import type { K8sObject } from "./k8s-shapes";

interface EnvVar {
  name: string;
  value?: string;
}

/** `helm template` (helm 4) → the rendered objects. */
const renderAll = (...args: string[]): Promise<Obj[]> => renderChart(args);

/** The rendered Deployment's pod spec. */
async function podSpec(...args: string[]): Promise<Obj> {
  const objs = await renderAll(...args);
  const deployment = objs.find((o) => o?.["kind"] === "Deployment") as { spec: { template: { spec: Obj } } };
  return deployment.spec.template.spec;
}

async function renderError(...args: string[]): Promise<string> {
  try {
    await podSpec(...args);
  } catch (err) {
    return String((err as { stderr?: string }).stderr ?? err);
  }
  throw new Error(`helm template ${args.join(" ")} succeeded`);
}

const containerOf = (spec: Obj): Obj => (spec["containers"] as Obj[])[0] as Obj;
const envOf = (spec: Obj): Record<string, string | undefined> =>
  Object.fromEntries((containerOf(spec)["env"] as EnvVar[]).map((e) => [e.name, e.value]));
const probePort = (spec: Obj, probe: string): unknown =>
  ((containerOf(spec)[probe] as Obj)["grpc"] as Obj)["port"];

describe("charts/kvroute: gRPC TLS and health port", () => {
  it("the Service's gRPC port says h2c (cleartext HTTP/2) only while TLS is off", async () => {
    const grpcPort = async (...args: string[]): Promise<Obj> => {
      const service = (await renderAll(...args)).find((o) => o["kind"] === "Service") as {
        spec: { ports: Obj[] };
      };
      return service.spec.ports.find((p) => p["name"] === "grpc") as Obj;
    };
    expect((await grpcPort())["appProtocol"]).toBe("kubernetes.io/h2c");
    for (const tls of [["grpcTls.existingSecret=kvroute-grpc-cert"], ["grpcTls.selfSigned=true"]]) {
      const port = await grpcPort("--set", tls[0] ?? "", "--set", "grpcHealthPort=9003");
      expect(port["appProtocol"]).toBeUndefined();
    }
  }, 30_000);

  it("defaults: plaintext, probes on the gRPC port, no TLS env or volume", async () => {
    const spec = await podSpec();
    const env = envOf(spec);
    for (const name of Object.keys(env)) expect(name).not.toMatch(/^KVROUTE_GRPC_(TLS|HEALTH)/);
    expect(probePort(spec, "readinessProbe")).toBe(50052);
    expect(JSON.stringify(spec["volumes"])).not.toContain("grpc-tls");
  }, 30_000);

  it("a cert Secret: mounted as a directory, named by the env vars; probes on the health port", async () => {
    const spec = await podSpec(
      "--set",
      "grpcTls.existingSecret=kvroute-grpc-cert",
      "--set",
      "grpcHealthPort=9003",
    );
    expect(envOf(spec)).toMatchObject({
      KVROUTE_GRPC_TLS_CERT: "/etc/kvroute/grpc-tls/tls.crt",
      KVROUTE_GRPC_TLS_KEY: "/etc/kvroute/grpc-tls/tls.key",
      KVROUTE_GRPC_HEALTH_PORT: "9003",
    });
    expect(envOf(spec)["KVROUTE_GRPC_TLS_SELF_SIGNED"]).toBeUndefined();
    const container = containerOf(spec);
    expect(container["volumeMounts"]).toContainEqual({
      name: "grpc-tls",
      mountPath: "/etc/kvroute/grpc-tls",
      readOnly: true,
    });
    expect(spec["volumes"]).toContainEqual({
      name: "grpc-tls",
      secret: {
        secretName: "kvroute-grpc-cert",
        items: [
          { key: "tls.crt", path: "tls.crt" },
          { key: "tls.key", path: "tls.key" },
        ],
      },
    });
    expect(container["ports"]).toContainEqual({ name: "grpc-health", containerPort: 9003, protocol: "TCP" });
    expect(probePort(spec, "livenessProbe")).toBe(9003);
    expect(probePort(spec, "readinessProbe")).toBe(9003);
  }, 30_000);

  it("self-signed sets its flag only", async () => {
    const spec = await podSpec("--set", "grpcTls.selfSigned=true", "--set", "grpcHealthPort=9003");
    const env = envOf(spec);
    expect(env["KVROUTE_GRPC_TLS_SELF_SIGNED"]).toBe("true");
    expect(env["KVROUTE_GRPC_TLS_CERT"]).toBeUndefined();
  }, 30_000);

  it("a health port alone moves the probes and keeps plaintext", async () => {
    const spec = await podSpec("--set", "grpcHealthPort=9003");
    expect(envOf(spec)["KVROUTE_GRPC_HEALTH_PORT"]).toBe("9003");
    expect(envOf(spec)["KVROUTE_GRPC_TLS_SELF_SIGNED"]).toBeUndefined();
    expect(probePort(spec, "readinessProbe")).toBe(9003);
  }, 30_000);

  it("refuses TLS without a health port, both TLS sources, and TLS env in config", async () => {
    expect(await renderError("--set", "grpcTls.selfSigned=true")).toContain(
      "grpcTls needs grpcHealthPort (e.g. 9003): kubelet's gRPC probes speak plaintext only",
    );
    expect(
      await renderError(
        "--set",
        "grpcTls.selfSigned=true",
        "--set",
        "grpcTls.existingSecret=s",
        "--set",
        "grpcHealthPort=9003",
      ),
    ).toContain("grpcTls: set existingSecret or selfSigned, not both");
    expect(await renderError("--set-string", "config.KVROUTE_GRPC_TLS_CERT=/x")).toContain(
      "config.KVROUTE_GRPC_TLS_CERT: set it with grpcTls.existingSecret, not in config",
    );
  }, 30_000);

  it("Envoy Gateway: a BackendTLSPolicy verifies kvroute's port against the CA ConfigMap", async () => {
    const tls = ["--set", "grpcTls.existingSecret=kvroute-grpc-cert", "--set", "grpcHealthPort=9003"];
    const eg = ["--set", "envoyGateway.enabled=true", ...tls];
    const objs = await renderAll(...eg, "--set", "grpcTls.caConfigMap=kvroute-ca");
    const policies = objs.filter((o) => o["kind"] === "BackendTLSPolicy") as unknown as K8sObject[];
    expect(policies).toHaveLength(1);
    const policy = policies[0] as K8sObject;
    expect(k8sObjectErrors(policy)).toEqual([]);
    expect(policy.spec).toEqual({
      targetRefs: [{ group: "", kind: "Service", name: "r1-kvroute", sectionName: "grpc" }],
      validation: {
        caCertificateRefs: [{ group: "", kind: "ConfigMap", name: "kvroute-ca" }],
        hostname: "r1-kvroute.llm.svc",
      },
    });
    // None without Envoy Gateway, or without TLS.
    expect((await renderAll(...tls)).map((o) => o["kind"])).not.toContain("BackendTLSPolicy");
    expect((await renderAll("--set", "envoyGateway.enabled=true")).map((o) => o["kind"])).not.toContain(
      "BackendTLSPolicy",
    );
    expect(await renderError(...eg)).toContain("needs grpcTls.caConfigMap");
    expect(
      await renderError(
        "--set",
        "envoyGateway.enabled=true",
        "--set",
        "grpcTls.selfSigned=true",
        "--set",
        "grpcHealthPort=9003",
      ),
    ).toContain("Envoy Gateway verifies backend TLS");
  }, 30_000);
});
