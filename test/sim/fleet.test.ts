import { spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClusterStore } from "../../src/cluster/cluster-state";
import { parseEndpointsFile } from "../../src/cluster/discovery/endpoints-file";
import { createEngineMetricsStore, startScraper } from "../../src/cluster/metrics";
import { startKvEvents } from "../../src/kvevents/manager";
import { createBlockHasher } from "../../src/prefix/block-hasher";
import { createEventIndex } from "../../src/prefix/event-index";
import { createTokenizerRegistry } from "../../src/tokenize/registry";
import { parseCli, portInUseMessage } from "../../src/sim/cli-args";
import { parse as parseYaml } from "yaml";
import { Fleet, PortInUseError, SIM_ROLESET, endpointsYaml, fleetAddresses } from "../../src/sim/fleet";
import type { FleetOptions } from "../../src/sim/fleet";
import { post, until } from "./helpers";
import { compiled } from "../support/compiled-build";

/** Free loopback ports (released before use; the fleet binds them right after). */
async function freePorts(n: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: n },
      () =>
        new Promise<net.Server>((r) => {
          const s = net.createServer();
          s.listen(0, "127.0.0.1", () => r(s));
        }),
    ),
  );
  const ports = servers.map((s) => (s.address() as net.AddressInfo).port);
  await Promise.all(servers.map((s) => new Promise((r) => s.close(r))));
  return ports;
}

describe("fleet", () => {
  it("lays pods out on loopback addresses with kvroute's shared KV ports, or on consecutive ports", () => {
    const base = { pods: 2, basePort: 9000, preset: "demo", model: "m" };
    expect(fleetAddresses({ ...base, layout: "loopback" })).toEqual([
      { host: "127.0.0.1", port: 9000, pubPort: 5557, replayPort: 5558 },
      { host: "127.0.0.2", port: 9001, pubPort: 5557, replayPort: 5558 },
    ]);
    expect(fleetAddresses({ ...base, layout: "shared" })[1]).toEqual({
      host: "127.0.0.1",
      port: 9003,
      pubPort: 9004,
      replayPort: 9005,
    });
    expect(() => fleetAddresses({ ...base, basePort: 5557, layout: "loopback" })).toThrow(/collides/);
  });

  it("kvroute reads the endpoints file, scrapes every pod, and indexes their KV events", async () => {
    const [basePort = 0, kvPort = 0, kvReplayPort = 0] = await freePorts(3);
    const fleet = await Fleet.start({
      pods: 2,
      basePort,
      preset: "demo",
      model: "sim",
      kvPort,
      kvReplayPort,
      layout: "loopback",
    });
    const cluster = createClusterStore();
    const store = createEngineMetricsStore({ staleAfterMs: 60_000 });
    const hasher = await createBlockHasher(7n);
    const index = createEventIndex({ hasher, maxBlocks: 10_000 });
    const tokenizers = createTokenizerRegistry({ defaultSpec: "character", workers: 0 });
    const scraper = startScraper({ cluster, store, intervalMs: 20, timeoutMs: 2000, concurrency: 4 });
    const kv = startKvEvents({
      cluster,
      sink: index,
      ports: { pub: kvPort, replay: kvReplayPort },
      enabledFor: () => true,
    });
    try {
      const text = fleet.endpointsYaml();
      expect(text).toContain(`--kv-events-port=${kvPort} --kv-events-replay-port=${kvReplayPort}`);
      const pods = parseEndpointsFile(text);
      expect(pods.map((p) => [p.address, p.metricsPort, p.models])).toEqual([
        [`127.0.0.1:${basePort}`, basePort, ["sim"]],
        [`127.0.0.2:${basePort + 1}`, basePort + 1, ["sim"]],
      ]);
      cluster.replace(pods);
      await until(() => pods.every((p) => store.fresh(p.key)?.numGpuBlocks === 4096), "both pods scraped");
      await until(() => pods.every((p) => kv.status(p.key)?.connected === true), "both pods subscribed");

      // Requests on the second pod only: its blocks, not the first pod's, appear in kvroute's index.
      const second = pods[1];
      if (second === undefined) throw new Error("no second pod");
      let n = 0;
      const prompt = (): string => `fleet prompt ${n++} `.padEnd(48, "-");
      // Slow joiner: until the first event arrives, send fresh prompts.
      while (index.blocks(second.key) === 0) {
        await post(`http://${second.address}/v1/completions`, {
          model: "sim",
          prompt: prompt(),
          max_tokens: 1,
        });
        await new Promise((r) => setImmediate(r));
        if (n > 500) throw new Error("no KV events from the second pod");
      }
      const last = `fleet prompt ${n - 1} `.padEnd(48, "-");
      const keys = hasher.chain(await tokenizers.forModel("sim").encode(last), 16, "");
      await until(
        () =>
          index
            .match(
              keys,
              pods.map((p) => p.key),
            )
            .get(second.key) === 3,
        "indexed on pod 2",
      );
      expect(index.blocks(pods[0]?.key ?? "")).toBe(0);
      await until(() => (store.fresh(second.key)?.promptTokensTotal ?? 0) >= 48, "metrics moved");
    } finally {
      await kv.close();
      await scraper.close();
      await tokenizers.close();
      await fleet.close();
    }
  });

  it("a port another process holds: the error names its address and the flag that moves it", async () => {
    // Hold one loopback port; the fleet is pointed at it as its serving port, then as each KV port.
    const holder = await new Promise<net.Server>((r) => {
      const srv = net.createServer();
      srv.listen(0, "127.0.0.1", () => r(srv));
    });
    const held = (holder.address() as net.AddressInfo).port;
    try {
      // Fresh ports for each start: a ZeroMQ socket a failed start closed may hold its port a little longer.
      const [a1 = 0, a2 = 0, b1 = 0, b2 = 0, c1 = 0, c2 = 0] = await freePorts(6);
      const base = { pods: 1, preset: "demo", model: "m", layout: "loopback" } as const;
      const taken = async (
        ports: Pick<FleetOptions, "basePort" | "kvPort" | "kvReplayPort">,
      ): Promise<string> => {
        const err = await Fleet.start({ ...base, ...ports }).then(
          () => new Error("the fleet started on a taken port"),
          (e: unknown) => e,
        );
        expect(err).toBeInstanceOf(PortInUseError);
        return portInUseMessage(err as PortInUseError);
      };
      expect(await taken({ basePort: held, kvPort: a1, kvReplayPort: a2 })).toMatch(
        new RegExp(
          `^127\\.0\\.0\\.1:${held} \\(serving port of pod 0\\) is already in use.*--base-port <port>.*RUN_ARGS="--base-port <port>"`,
        ),
      );
      expect(await taken({ basePort: b1, kvPort: held, kvReplayPort: b2 })).toMatch(
        new RegExp(`^127\\.0\\.0\\.1:${held} \\(KV-event PUB port of pod 0\\).*--kv-port <port>`),
      );
      expect(await taken({ basePort: c1, kvPort: c2, kvReplayPort: held })).toMatch(
        new RegExp(`^127\\.0\\.0\\.1:${held} \\(KV-event replay port of pod 0\\).*--kv-replay-port <port>`),
      );
    } finally {
      await new Promise((r) => holder.close(r));
    }
  });

  it("parses the command line", () => {
    expect(
      parseCli([
        "--pods",
        "3",
        "--base-port",
        "7000",
        "--preset",
        "demo",
        "--model",
        "q",
        "--endpoints-out",
        "/x",
      ]),
    ).toEqual({
      fleet: { pods: 3, basePort: 7000, preset: "demo", model: "q", kvPort: 5557, kvReplayPort: 5558 },
      endpointsOut: "/x",
    });
    expect(parseCli(["--help"])).toBeUndefined();
    expect(() => parseCli(["--pods", "x"])).toThrow(/--pods/);
    expect(() => parseCli(["--bogus"])).toThrow();
    expect(parseCli(["--block-hash", "sha256_cbor"])?.fleet.overrides).toEqual({ blockHash: "sha256_cbor" });
    expect(() => parseCli(["--block-hash", "md5"])).toThrow(/--block-hash/);
  });

  it("a P/D fleet: --roles sets one role per pod, the endpoints file lists them as AIBrix's roleset", () => {
    const parsed = parseCli(["--roles", "prefill:1,decode:2", "--kv-link-gbps", "200"]);
    expect(parsed?.fleet).toMatchObject({
      pods: 3,
      roles: ["prefill", "decode", "decode"],
      overrides: { kvTransferBytesPerSecond: 25e9 },
    });
    expect(() => parseCli(["--roles", "prefill:2"])).toThrow(/at least one prefill and one decode/);
    expect(() => parseCli(["--roles", "prefill:1,decode:1", "--pods", "3"])).toThrow(/disagrees/);
    expect(() => parseCli(["--roles", "both:2"])).toThrow(/--roles/);
    const o = parsed?.fleet ?? { pods: 0, basePort: 0, preset: "demo", model: "m" };
    const text = endpointsYaml(o, fleetAddresses({ ...o, basePort: 9100, layout: "loopback" }));
    // kvroute's own parser is not the judge here (its rolesets support is separate work): the shape is AIBrix's.
    expect(parseYaml(text)).toEqual({
      models: [
        {
          name: "sim-model",
          engine: "vllm",
          rolesets: [
            { name: SIM_ROLESET, prefill: ["127.0.0.1:9100"], decode: ["127.0.0.2:9101", "127.0.0.3:9102"] },
          ],
        },
      ],
    });
  });

  it("kvroute-sim runs, writes the endpoints file, and exits 0 on SIGTERM", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kvroute-sim-"));
    const out = join(dir, "endpoints.yaml");
    const [basePort = 0, kvPort = 0, replayPort = 0] = await freePorts(3);
    const child = spawn(
      process.execPath,
      [
        ...compiled("src/sim/cli.ts"),
        "--pods",
        "2",
        "--base-port",
        String(basePort),
        "--kv-port",
        String(kvPort),
        "--kv-replay-port",
        String(replayPort),
        "--endpoints-out",
        out,
        "--model",
        "cli-model",
      ],
      { cwd: join(__dirname, "..", ".."), stdio: ["ignore", "pipe", "pipe"] },
    );
    try {
      // The ready line is the event to wait for (no deadline of its own: a starved machine may take long to start
      // the simulator; the test's timeout bounds it, and an early exit fails at once).
      await new Promise<void>((resolve, reject) => {
        let stdout = "";
        child.stdout.on("data", (d: Buffer) => {
          stdout += d.toString();
          if (stdout.includes("kvroute-sim: ready")) resolve();
        });
        child.once("exit", (code) => reject(new Error(`kvroute-sim exited (${code}) before it was ready`)));
      });
      expect(parseEndpointsFile(readFileSync(out, "utf8")).map((p) => p.models[0])).toEqual([
        "cli-model",
        "cli-model",
      ]);
      const health = await fetch(`http://127.0.0.1:${basePort}/health`);
      expect(health.status).toBe(200);
      const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
      child.kill("SIGTERM");
      expect(await exited).toBe(0);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
    }
  }, 60_000);
});
