/**
 * Data-parallel ranks in the standalone endpoints file: `{ address, dataParallelSize }` turns one listed endpoint
 * into one endpoint per rank on consecutive ports; what would make two endpoints one address, or a rank with no
 * port, is refused with the file; and the watcher follows a change of the rank count.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClusterStore } from "../../../src/cluster/cluster-state";
import { parseEndpointsFile } from "../../../src/cluster/discovery/endpoints-file";
import { watchEndpointsFile } from "../../../src/cluster/discovery/static-file";
import { nextChange, recordingLog, withGuard } from "./watch-helpers";

const yaml = (...lines: string[]): string => `models:\n${lines.join("\n")}\n`;

describe("parseEndpointsFile with dataParallelSize", () => {
  it("makes one endpoint per rank, keyed and addressed by its own port, named by the listed endpoint", () => {
    const pods = parseEndpointsFile(
      yaml(
        "  - name: m",
        "    endpoints:",
        "      - 10.0.0.1:8000",
        "      - { address: 10.0.0.2:8000, dataParallelSize: 3 }",
        '      - { address: "[fd00::3]:9000", dataParallelSize: 2 }',
        "      - { address: 10.0.0.4:8000, dataParallelSize: 1 }",
      ),
    );
    expect(pods.map((p) => [p.key, p.name, p.address, p.metricsPort, p.dataParallelRank])).toEqual([
      ["static/10.0.0.1:8000", "10.0.0.1:8000", "10.0.0.1:8000", 8000, undefined],
      ["static/10.0.0.2:8000", "10.0.0.2:8000", "10.0.0.2:8000", 8000, 0],
      ["static/10.0.0.2:8001", "10.0.0.2:8000", "10.0.0.2:8001", 8001, 1],
      ["static/10.0.0.2:8002", "10.0.0.2:8000", "10.0.0.2:8002", 8002, 2],
      ["static/10.0.0.4:8000", "10.0.0.4:8000", "10.0.0.4:8000", 8000, undefined],
      ["static/[fd00::3]:9000", "[fd00::3]:9000", "[fd00::3]:9000", 9000, 0],
      ["static/[fd00::3]:9001", "[fd00::3]:9000", "[fd00::3]:9001", 9001, 1],
    ]);
    expect(pods.every((p) => p.models.join() === "m" && p.ready)).toBe(true);
  });

  it("takes the rank count from whichever model gives it for an endpoint shared by models", () => {
    const pods = parseEndpointsFile(
      yaml(
        "  - name: a",
        "    endpoints: [10.0.0.1:8000]",
        "  - name: b",
        "    endpoints: [{ address: 10.0.0.1:8000, dataParallelSize: 2 }]",
      ),
    );
    expect(pods.map((p) => [p.address, p.models])).toEqual([
      ["10.0.0.1:8000", ["a", "b"]],
      ["10.0.0.1:8001", ["a", "b"]],
    ]);
  });

  it.each<[string, string, string]>([
    [
      "a rank on a listed endpoint",
      yaml("  - name: m", "    endpoints: [10.0.0.1:8001, { address: 10.0.0.1:8000, dataParallelSize: 2 }]"),
      "endpoint 10.0.0.1:8001 is both listed and rank 1 of 10.0.0.1:8000",
    ],
    [
      "ranks of two endpoints overlapping",
      yaml(
        "  - name: m",
        "    endpoints:",
        "      - { address: 10.0.0.1:8000, dataParallelSize: 2 }",
        "      - { address: 10.0.0.1:8001, dataParallelSize: 2 }",
      ),
      "endpoint 10.0.0.1:8001 is both rank 1 of 10.0.0.1:8000 and rank 0 of 10.0.0.1:8001",
    ],
    [
      "sizes that disagree between models",
      yaml(
        "  - name: a",
        "    endpoints: [{ address: 10.0.0.1:8000, dataParallelSize: 2 }]",
        "  - name: b",
        "    endpoints: [{ address: 10.0.0.1:8000, dataParallelSize: 4 }]",
      ),
      "models[1].dataParallelSize: 4 conflicts with 2 (models[0]) for endpoint 10.0.0.1:8000",
    ],
    [
      "size 0",
      yaml("  - name: m", "    endpoints: [{ address: 10.0.0.1:8000, dataParallelSize: 0 }]"),
      "models[0].endpoints[0].dataParallelSize: must be an integer in 1..64",
    ],
    [
      "size 65",
      yaml("  - name: m", "    endpoints: [{ address: 10.0.0.1:8000, dataParallelSize: 65 }]"),
      "models[0].endpoints[0].dataParallelSize: must be an integer in 1..64",
    ],
    [
      "a fractional size",
      yaml("  - name: m", "    endpoints: [{ address: 10.0.0.1:8000, dataParallelSize: 1.5 }]"),
      "models[0].endpoints[0].dataParallelSize: must be an integer in 1..64",
    ],
    [
      "ranks past port 65535",
      yaml("  - name: m", "    endpoints: [{ address: 10.0.0.1:65535, dataParallelSize: 2 }]"),
      "models[0].endpoints[0]: its last rank's port is above 65535",
    ],
    [
      "a bad address in a mapping",
      yaml("  - name: m", "    endpoints: [{ address: 10.0.0.1, dataParallelSize: 2 }]"),
      'models[0].endpoints[0].address: "10.0.0.1" is not host:port',
    ],
    [
      "an unknown field",
      yaml("  - name: m", "    endpoints: [{ address: 10.0.0.1:8000, ranks: 2 }]"),
      "models[0].endpoints[0]: unsupported field(s) ranks (only address, dataParallelSize)",
    ],
  ])("refuses %s", (_what, text, message) => {
    expect(() => parseEndpointsFile(text)).toThrow(message);
  });
});

describe("watchEndpointsFile with dataParallelSize", () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "kvroute-dp-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("follows a change of an endpoint's rank count", async () => {
    const path = join(dir, "endpoints.yaml");
    const sized = (n: number) =>
      yaml("  - name: m", `    endpoints: [{ address: 127.0.0.1:18100, dataParallelSize: ${n} }]`);
    await writeFile(path, sized(2));
    const store = createClusterStore();
    const w = watchEndpointsFile(path, store, recordingLog(), { debounceMs: 20 });
    try {
      await withGuard(w.ready, "ready");
      expect([...store.snapshot().pods.keys()]).toEqual(["static/127.0.0.1:18100", "static/127.0.0.1:18101"]);
      const change = nextChange(store);
      await writeFile(path, sized(3));
      expect([...(await change).pods.values()].map((p) => p.address)).toEqual([
        "127.0.0.1:18100",
        "127.0.0.1:18101",
        "127.0.0.1:18102",
      ]);
    } finally {
      w.close();
    }
  });
});
