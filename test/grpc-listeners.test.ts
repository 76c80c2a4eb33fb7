/**
 * kvroute's gRPC listeners over real gRPC on loopback, in one file because they share its set-up (each test file
 * loads the whole server anew).
 *
 * TLS on the ext_proc gRPC port: a client that verifies the certificate (trusting it as its CA, checking the server
 * name) completes an ext_proc exchange and a health Check; a plaintext client is refused; replaced certificate files
 * are served to new connections without a restart; a bad replacement keeps the previous certificate (counted,
 * warned); unusable files stop the start; self-signed mode serves a certificate a client can pin.
 *
 * `--grpc-health-port`: grpc.health.v1 also on a port of its own (plaintext, even when the gRPC port serves TLS),
 * with the names the Endpoint Picker protocol's Health Checking section lists, tracking the same state as the main
 * port, answering through a drain's delay and closed when the drain ends. Unset, there is no such port.
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { CHAT_HEADERS, ExtProcClient, body, chatBody, headers, pod, startHarness } from "./extproc/harness";
import type { Harness } from "./extproc/harness";
import { healthClient } from "./support/health-client";
import { CertDir, TEST_SERVER_NAME, makePair, servedCertificate } from "./support/tls-certs";
import type { TestPair } from "./support/tls-certs";
import { within } from "./support/within";

const PODS = [pod("p1", "10.0.0.1", ["m1"])];
const BOUND_MS = 10_000;
/** What the protocol's Health Checking section names, plus the reference picker's deployments' own probe name. */
const READINESS = ["readiness", "envoy.service.ext_proc.v3.ExternalProcessor", "inference-extension"];

/** Channel credentials trusting exactly `caPem`, and the name its certificate is checked against. */
function trusting(caPem: string, name = TEST_SERVER_NAME): [grpc.ChannelCredentials, grpc.ChannelOptions] {
  return [
    grpc.credentials.createSsl(Buffer.from(caPem)),
    { "grpc.ssl_target_name_override": name, "grpc.default_authority": name },
  ];
}

/** One ext_proc request over `client`: headers, then the body that gets routed. */
async function routeOne(client: ExtProcClient): Promise<void> {
  const s = client.open();
  const [h] = await s.exchange(headers(CHAT_HEADERS));
  expect(h?.request_headers).toBeDefined();
  const [b] = await s.exchange(body(chatBody("m1")));
  expect(b?.request_body).toBeDefined();
  s.cancel();
}

/** Plaintext health Checks of `names` on `port`, one client. */
async function statuses(port: number, names: readonly string[]): Promise<Record<string, string>> {
  const health = healthClient(port);
  try {
    const out: Record<string, string> = {};
    for (const name of names) out[name] = await health.check(name, BOUND_MS);
    return out;
  } finally {
    health.close();
  }
}

const all = (status: string): Record<string, string> =>
  Object.fromEntries(READINESS.map((name) => [name, status]));

/** A plaintext health Check of `service` on `port` fails with `code`. */
async function expectCheckFails(port: number, service: string, code: grpc.status): Promise<void> {
  const health = healthClient(port);
  try {
    await expect(health.check(service, BOUND_MS)).rejects.toMatchObject({ code });
  } finally {
    health.close();
  }
}

async function checkOver(port: number, caPem: string, name?: string): Promise<string> {
  const health = healthClient(port, ...trusting(caPem, name));
  try {
    return await health.check("readiness", BOUND_MS);
  } finally {
    health.close();
  }
}

describe("TLS from certificate files", () => {
  let dir: string;
  let certs: CertDir;
  let h: Harness;
  let a: TestPair;
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), "kvroute-tls-"));
    certs = new CertDir(dir);
    a = await makePair();
    certs.swap(a.cert, a.key);
    h = await startHarness(
      PODS,
      ["--grpc-tls-cert", certs.certPath, "--grpc-tls-key", certs.keyPath],
      {},
      { tlsRefreshIntervalMs: 20 },
    );
  });
  afterAll(async () => {
    await h.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it("a verifying client completes an ext_proc exchange and a health Check", async () => {
    expect((await servedCertificate(h.server.grpcPort)).fingerprint256).toBe(a.fingerprint);
    const client = new ExtProcClient(`127.0.0.1:${h.server.grpcPort}`, ...trusting(a.cert));
    try {
      await routeOne(client);
    } finally {
      client.close();
    }
    expect(await checkOver(h.server.grpcPort, a.cert)).toBe("SERVING");
    expect(h.log.lines).toContainEqual(
      expect.objectContaining({ msg: "gRPC port serves TLS", source: "files", fingerprint: a.fingerprint }),
    );
  });

  it("opens no health port of its own when --grpc-health-port is unset", () => {
    expect(h.server.grpcHealthPort).toBeUndefined();
  });

  it("refuses a plaintext client, and a client that trusts another certificate", async () => {
    await expectCheckFails(h.server.grpcPort, "readiness", grpc.status.UNAVAILABLE);
    const other = await makePair();
    await expect(checkOver(h.server.grpcPort, other.cert)).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
    // The right certificate but checked against a name it was not made for.
    await expect(checkOver(h.server.grpcPort, a.cert, "other.test")).rejects.toMatchObject({
      code: grpc.status.UNAVAILABLE,
    });
  });

  it("serves replaced files to new connections; a bad replacement keeps the previous pair", async () => {
    const reloads = async (result: string): Promise<number> =>
      (await h.server.metrics.grpcTlsReloads.get()).values.find((v) => v.labels.result === result)?.value ??
      0;
    const b = await makePair();
    certs.swap(b.cert, b.key);
    await within(
      h.log.waitFor(
        (l) => l["msg"] === "gRPC TLS certificate reloaded" && l["fingerprint"] === b.fingerprint,
      ),
      BOUND_MS,
      "reload of the new pair",
    );
    expect((await servedCertificate(h.server.grpcPort)).fingerprint256).toBe(b.fingerprint);
    expect(await checkOver(h.server.grpcPort, b.cert)).toBe("SERVING");
    expect(await reloads("applied")).toBe(1);

    // A new certificate with the old key: what a half-rotated Secret looks like.
    const c = await makePair();
    certs.swap(c.cert, b.key);
    const warned = await within(
      h.log.waitFor(
        (l) => l["msg"] === "gRPC TLS certificate files rejected; the previous certificate stays",
      ),
      BOUND_MS,
      "rejection of a mismatched pair",
    );
    expect(warned["level"]).toBe("warn");
    expect(warned["reason"]).toMatch(/does not match/);
    expect((await servedCertificate(h.server.grpcPort)).fingerprint256).toBe(b.fingerprint);
    expect(await checkOver(h.server.grpcPort, b.cert)).toBe("SERVING");

    // A truncated certificate file; then a good pair again is taken.
    certs.swap(c.cert.slice(0, 100), c.key);
    await within(
      h.log.waitFor(
        (l) =>
          l["msg"] === "gRPC TLS certificate files rejected; the previous certificate stays" && l !== warned,
      ),
      BOUND_MS,
      "rejection of a torn certificate",
    );
    certs.swap(c.cert, c.key);
    await within(
      h.log.waitFor(
        (l) => l["msg"] === "gRPC TLS certificate reloaded" && l["fingerprint"] === c.fingerprint,
      ),
      BOUND_MS,
      "reload after the bad pairs",
    );
    expect((await servedCertificate(h.server.grpcPort)).fingerprint256).toBe(c.fingerprint);
    // Each bad pair counted once, though it sat on disk for several re-reads.
    expect(await reloads("rejected")).toBe(2);
    expect(await reloads("applied")).toBe(2);
  });
});

describe("TLS files unusable at start", () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), "kvroute-tls-bad-"));
  });
  afterAll(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it("refuses to start on a mismatched pair, naming the settings", async () => {
    const [a, b] = await Promise.all([makePair(), makePair()]);
    writeFileSync(join(dir, "a.crt"), a.cert);
    writeFileSync(join(dir, "b.key"), b.key);
    await expect(
      startHarness(PODS, ["--grpc-tls-cert", join(dir, "a.crt"), "--grpc-tls-key", join(dir, "b.key")]),
    ).rejects.toThrow(
      /^--grpc-tls-cert\/--grpc-tls-key \(.*\): not a usable pair: the private key does not match/,
    );
  });

  it("refuses to start on a missing file", async () => {
    await expect(
      startHarness(PODS, ["--grpc-tls-cert", join(dir, "none.crt"), "--grpc-tls-key", join(dir, "none.key")]),
    ).rejects.toThrow(/^--grpc-tls-cert\/--grpc-tls-key: cannot read: .*none\.crt/);
  });
});

describe("TLS with a self-signed certificate, and a health port beside it", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, ["--grpc-tls-self-signed", "--grpc-health-port=0"]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("serves a certificate a client can pin, and refuses plaintext", async () => {
    const served = await servedCertificate(h.server.grpcPort, "kvroute");
    expect(served.subject).toContain("CN=kvroute");
    expect(served.checkIP("127.0.0.1")).toBe("127.0.0.1");
    const client = new ExtProcClient(
      `127.0.0.1:${h.server.grpcPort}`,
      ...trusting(served.toString(), "kvroute"),
    );
    try {
      await routeOne(client);
    } finally {
      client.close();
    }
    expect(await checkOver(h.server.grpcPort, served.toString(), "kvroute")).toBe("SERVING");
    await expectCheckFails(h.server.grpcPort, "readiness", grpc.status.UNAVAILABLE);
  });

  it("serves health Checks in plaintext on the health port", async () => {
    expect(await statuses(h.server.grpcHealthPort ?? -1, READINESS)).toEqual(all("SERVING"));
  });
});

describe("--grpc-health-port", () => {
  describe("set", () => {
    let h: Harness;
    let healthPort: number;
    beforeAll(async () => {
      h = await startHarness(undefined, ["--grpc-health-port", "0"]);
      healthPort = h.server.grpcHealthPort ?? -1;
    });
    afterAll(async () => {
      await h.close();
    });

    it("serves the protocol's names on both ports, following the same readiness", async () => {
      expect(healthPort).toBeGreaterThan(0);
      expect(healthPort).not.toBe(h.server.grpcPort);
      for (const port of [h.server.grpcPort, healthPort]) {
        expect(await statuses(port, ["", "liveness"])).toEqual({ "": "SERVING", liveness: "SERVING" });
        expect(await statuses(port, READINESS)).toEqual(all("NOT_SERVING"));
      }
      h.cluster.replace(PODS);
      for (const port of [h.server.grpcPort, healthPort]) {
        expect(await statuses(port, READINESS)).toEqual(all("SERVING"));
      }
      await expectCheckFails(healthPort, "no-such-service", grpc.status.NOT_FOUND);
    });

    it("does not serve ext_proc", async () => {
      const client = new ExtProcClient(`127.0.0.1:${healthPort}`);
      try {
        const s = client.open();
        s.send({ request_headers: { headers: { headers: [] } } });
        expect((await within(s.status, BOUND_MS, "ext_proc status")).code).toBe(grpc.status.UNIMPLEMENTED);
      } finally {
        client.close();
      }
    });
  });

  it("answers NOT_SERVING through a drain's delay, then closes with the rest", async () => {
    const closing: string[] = [];
    const h = await startHarness(PODS, ["--grpc-health-port=0"], {}, { onClosing: (p) => closing.push(p) });
    try {
      const port = h.server.grpcHealthPort ?? -1;
      expect(await statuses(port, READINESS)).toEqual(all("SERVING"));
      const drained = h.server.drain({ delayMs: 60_000, timeoutMs: 1000 });
      expect(await statuses(port, READINESS)).toEqual(all("NOT_SERVING"));
      expect(await statuses(port, ["liveness"])).toEqual({ liveness: "SERVING" });
      expect(closing).not.toContain("grpc-health");
      h.server.hurryDrain();
      await within(drained, BOUND_MS, "drain");
      expect(closing).toContain("grpc-health");
      await expectCheckFails(port, "liveness", grpc.status.UNAVAILABLE);
    } finally {
      await h.close();
    }
  });
});
