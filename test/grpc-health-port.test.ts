/**
 * `--grpc-health-port`: grpc.health.v1 also on a port of its own (plaintext, even when the gRPC port serves TLS),
 * with the names the Endpoint Picker protocol's Health Checking section lists, tracking the same state as the
 * main port, answering through a drain's delay and closed when the drain ends. Unset, there is no such port.
 */
import * as grpc from "@grpc/grpc-js";
import { ExtProcClient, pod, startHarness } from "./extproc/harness";
import type { Harness } from "./extproc/harness";
import { healthClient } from "./support/health-client";
import { within } from "./support/within";

const PODS = [pod("p1", "10.0.0.1", ["m1"])];
const BOUND_MS = 10_000;
/** What the protocol's Health Checking section names, plus the reference picker's deployments' own probe name. */
const READINESS = ["readiness", "envoy.service.ext_proc.v3.ExternalProcessor", "inference-extension"];

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

describe("--grpc-health-port", () => {
  it("is not opened when unset", async () => {
    const h = await startHarness(PODS);
    try {
      expect(h.server.grpcHealthPort).toBeUndefined();
    } finally {
      await h.close();
    }
  });

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
      const health = healthClient(healthPort);
      try {
        await expect(health.check("no-such-service", BOUND_MS)).rejects.toMatchObject({
          code: grpc.status.NOT_FOUND,
        });
      } finally {
        health.close();
      }
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

  it("stays plaintext next to a TLS gRPC port", async () => {
    const h = await startHarness(PODS, ["--grpc-tls-self-signed", "--grpc-health-port=0"]);
    try {
      expect(await statuses(h.server.grpcHealthPort ?? -1, READINESS)).toEqual(all("SERVING"));
      const plain = healthClient(h.server.grpcPort);
      try {
        await expect(plain.check("readiness", BOUND_MS)).rejects.toMatchObject({
          code: grpc.status.UNAVAILABLE,
        });
      } finally {
        plain.close();
      }
    } finally {
      await h.close();
    }
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
      const health = healthClient(port);
      try {
        await expect(health.check("liveness", BOUND_MS)).rejects.toMatchObject({
          code: grpc.status.UNAVAILABLE,
        });
      } finally {
        health.close();
      }
    } finally {
      await h.close();
    }
  });
});
