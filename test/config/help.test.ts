import { SETTINGS, helpText } from "../../src/config";
import type { Setting } from "../../src/config";

const rows = Object.entries(SETTINGS) as [string, Setting<unknown>][];

describe("helpText", () => {
  const text = helpText();

  it.each(rows)("documents %s: flag, aliases, env var, default and description", (_key, s) => {
    for (const f of [s.flag, ...(s.aliases ?? [])]) if (f !== undefined) expect(text).toContain(`--${f}`);
    if (s.env !== undefined) expect(text).toContain(s.env);
    if (s.type.defaultText !== undefined) expect(text).toContain(s.type.defaultText);
    expect(text).toContain(s.description);
  });

  it.each([
    "--grpc-bind-address",
    "--http-bind-address",
    "--metrics-bind-address",
    "--standalone",
    "--endpoints-config",
    "--kubeconfig",
    "--namespace",
    "--routing-algorithm",
    "--grpc-max-message-size-bytes",
    "--max-body-bytes",
    "--request-body-mode",
    "--response-body-mode",
    "--send-body-without-waiting-for-header-response",
    "--drain-timeout-ms",
    "--log-level",
    "--max-pod-label-series",
    "--help",
    "KVROUTE_GRPC_BIND_ADDRESS",
    "KVROUTE_HTTP_BIND_ADDRESS",
    "KVROUTE_STANDALONE",
    "KVROUTE_ENDPOINTS_CONFIG",
    "KUBECONFIG",
    "KVROUTE_NAMESPACE",
    "ROUTING_ALGORITHM",
    "AIBRIX_GRPC_MAX_MESSAGE_SIZE_BYTES",
    "KVROUTE_MAX_BODY_BYTES",
    "KVROUTE_REQUEST_BODY_MODE",
    "KVROUTE_RESPONSE_BODY_MODE",
    "KVROUTE_SEND_BODY_WITHOUT_WAITING_FOR_HEADER_RESPONSE",
    "KVROUTE_DRAIN_TIMEOUT_MS",
    "LOG_LEVEL",
    "AIBRIX_AUTH_BEARER_TOKEN",
    "POD_NAME",
    "KVROUTE_MAX_POD_LABEL_SERIES",
  ])("mentions %s", (name) => {
    expect(text).toContain(name);
  });

  it("keeps the env-only secret off the flag list", () => {
    const envOnly = text.slice(text.indexOf("Environment only:"));
    expect(envOnly).toContain("AIBRIX_AUTH_BEARER_TOKEN");
    expect(text).not.toContain("--auth-bearer-token");
  });
});
