/**
 * A start that fails after the gRPC ports are bound (the admin HTTP port is taken) runs every disposer it had
 * registered, each once, even when one of them throws, and the gRPC ports are free again afterwards.
 */
import { pod, startHarness } from "./extproc/harness";
import { freePort } from "./support/redis-server";
import { occupy, release } from "./support/occupy-port";

const PODS = [pod("p1", "10.0.0.1", ["m"])];

describe("a failed start (HTTP port taken)", () => {
  it("closes every started piece once, even after one throws, and frees the gRPC ports", async () => {
    const [grpcPort, healthPort, httpPort] = [await freePort(), await freePort(), await freePort()];
    const taken = await occupy(httpPort);
    const closing: string[] = [];
    try {
      await expect(
        startHarness(
          PODS,
          [
            "--grpc-bind-address",
            `127.0.0.1:${grpcPort}`,
            `--grpc-health-port=${healthPort}`,
            "--http-bind-address",
            `127.0.0.1:${httpPort}`,
          ],
          {},
          {
            onClosing: (piece) => {
              closing.push(piece);
              if (piece === "kv-cache") throw new Error("kv-cache close failed");
            },
          },
        ),
      ).rejects.toThrow();
    } finally {
      await release(taken);
    }
    // The back end newest first, then the health-only port; the main gRPC server (closed first) is not announced.
    expect(closing).toEqual([
      "cluster-subscription",
      "scraper",
      "pd-prefill-client",
      "passive-health",
      "kv-cache",
      "flow-control",
      "usage",
      "grpc-health",
    ]);
    // Both gRPC ports, bound before the HTTP bind failed, are free again.
    await release(await occupy(grpcPort));
    await release(await occupy(healthPort));
  });
});
