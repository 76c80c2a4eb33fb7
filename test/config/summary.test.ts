/** The startup line's summary of the configuration: discovery mode, features on/off, and never a secret. */
import { startupSummary } from "../../src/config";
import { load } from "./load-support";

describe("startupSummary", () => {
  it("names the discovery mode and its source", () => {
    expect(startupSummary(load([]))).toMatchObject({ discovery: "kubernetes", discoverySource: "all" });
    expect(startupSummary(load(["--namespace", "llm", "--inference-pool", "pool-a"]))).toMatchObject({
      discovery: "inference-pool",
      discoverySource: "llm/pool-a",
      kvEvents: "labelled-pods",
    });
    expect(
      startupSummary(load(["--standalone", "--endpoints-config", "e.yaml", "--kv-events-static"])),
    ).toMatchObject({ discovery: "file", discoverySource: "e.yaml", kvEvents: "all" });
  });

  it("says each feature on or off, and never a secret's value", () => {
    const secret = "s3cret-value";
    const summary = startupSummary(
      load(
        [
          "--grpc-tls-self-signed",
          "--log-requests",
          "--outlier-detection=false",
          "--slo-queue-max",
          "0",
          "--tenant-tpm-overrides=anonymous=100",
        ],
        {
          REDIS_URL: `redis://:${secret}@127.0.0.1:6379`,
          AIBRIX_AUTH_BEARER_TOKEN: secret,
        },
      ),
    );
    expect(summary.features).toMatchObject({
      redisUsage: true,
      apiKey: true,
      grpcTls: true,
      logRequests: true,
      passiveHealth: false,
      sloQueue: false,
      tenantBudgets: true,
      conformanceTestMode: false,
    });
    expect(JSON.stringify(summary)).not.toContain(secret);
  });
});
