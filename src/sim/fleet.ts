/**
 * A fleet of simulated vLLM pods in one process, and the kvroute endpoints file that points kvroute at it.
 *
 * kvroute subscribes to KV events on the same two ports of every pod (`--kv-events-port`,
 * `--kv-events-replay-port`), as on a real fleet where each pod has its own IP. So by default (`loopback`
 * layout, Linux) pod i gets its own loopback address 127.0.0.(i+1): serving port `basePort + i`, and the shared
 * KV ports. The `shared` layout puts every pod on one address with consecutive ports per pod
 * (`basePort + 3i` serving, `+1` PUB, `+2` replay): it works where only 127.0.0.1 exists, but kvroute can then
 * follow the KV events of one pod only (the ports of the others are not where it looks).
 *
 * @module
 */
import { renameSync, writeFileSync } from "node:fs";
import { stringify } from "yaml";
import { PRESETS, preset } from "./engine/presets";
import type { SimPresetName } from "./engine/presets";
import type { SimEngineParams } from "./engine/types";
import { PodServer } from "./server/pod-server";
import { loadSimTokenizer } from "./server/tokenizer";
import type { SimTokenizer } from "./server/tokenizer";

/**
 * A pod's role in a prefill/decode disaggregated fleet, as AIBrix labels it (`role-name`). The pod's behaviour
 * follows the request (`kv_transfer_params`), as vLLM's does; the role says which requests a P/D router sends it.
 */
export type SimPodRole = "prefill" | "decode";

/** The roleset every role pod of the fleet belongs to (AIBrix's `roleset-name`). */
export const SIM_ROLESET = "sim-roleset-0";

/** How pods are laid out on the host (see the module comment). */
export type FleetLayout = "loopback" | "shared";

/** Options of {@link Fleet.start}. */
export interface FleetOptions {
  readonly pods: number;
  readonly basePort: number;
  /** Engine preset name (`demo`, `qwen3-8b-h100`, …). */
  readonly preset: string;
  readonly model: string;
  /** Default: `loopback` on Linux, else `shared`. */
  readonly layout?: FleetLayout;
  /** KV-event PUB and replay ports of every pod in the `loopback` layout (default 5557 / 5558, vLLM's). */
  readonly kvPort?: number;
  readonly kvReplayPort?: number;
  /** Tokenizer, as kvroute's `--tokenizer` (default `character`, kvroute's default). */
  readonly tokenizer?: string;
  readonly loras?: readonly string[];
  /** Engine parameters overriding the preset's. */
  readonly overrides?: Partial<SimEngineParams>;
  /**
   * One role per pod (so `roles.length === pods`), for a disaggregated fleet; absent: every pod serves both
   * phases and the endpoints file lists plain `endpoints`.
   */
  readonly roles?: readonly SimPodRole[];
}

/** Where one pod listens. */
export interface PodAddress {
  readonly host: string;
  readonly port: number;
  readonly pubPort: number;
  readonly replayPort: number;
}

/** The names of the presets, for help texts. */
export const PRESET_NAMES = Object.keys(PRESETS) as SimPresetName[];

function isPreset(name: string): name is SimPresetName {
  return (PRESET_NAMES as string[]).includes(name);
}

/** The option that sets a port of the fleet (the command line's `--base-port`, `--kv-port`, `--kv-replay-port`). */
export type PortOption = "basePort" | "kvPort" | "kvReplayPort";

/**
 * A pod could not bind one of its ports because something else holds it: which address, and the option that moves
 * it. The sockets' own errors name no address (ZeroMQ's says only "Address already in use").
 */
export class PortInUseError extends Error {
  constructor(
    readonly host: string,
    readonly port: number,
    readonly option: PortOption,
    what: string,
  ) {
    super(`${host}:${port} (${what}) is already in use`);
    this.name = "PortInUseError";
  }
}

const layoutOf = (o: FleetOptions): FleetLayout =>
  o.layout ?? (process.platform === "linux" ? "loopback" : "shared");

/** The port an `EADDRINUSE` error from `net` (`port`) or ZeroMQ (`address`: `tcp://host:port`) is about. */
function portInUse(err: unknown): number | undefined {
  // Not `instanceof Error`: Node's own errors may come from another realm (a test runner's sandbox).
  if (typeof err !== "object" || err === null) return undefined;
  const { code, port, address } = err as { code?: unknown; port?: unknown; address?: unknown };
  if (code !== "EADDRINUSE") return undefined;
  if (typeof port === "number") return port;
  const m = typeof address === "string" ? /:(\d+)$/.exec(address) : null;
  return m ? Number(m[1]) : undefined;
}

/** `err` as a {@link PortInUseError} when it is a bind of one of pod `i`'s ports (`a`) to a taken address. */
function asPortInUse(err: unknown, o: FleetOptions, a: PodAddress, i: number): PortInUseError | undefined {
  const port = portInUse(err);
  // In the shared layout every port follows from the base port.
  const shared = layoutOf(o) === "shared";
  if (port === a.port) return new PortInUseError(a.host, port, "basePort", `serving port of pod ${i}`);
  if (port === a.pubPort)
    return new PortInUseError(a.host, port, shared ? "basePort" : "kvPort", `KV-event PUB port of pod ${i}`);
  if (port === a.replayPort)
    return new PortInUseError(
      a.host,
      port,
      shared ? "basePort" : "kvReplayPort",
      `KV-event replay port of pod ${i}`,
    );
  return undefined;
}

/** Addresses of every pod; throws RangeError on a layout that cannot bind. */
export function fleetAddresses(o: FleetOptions): PodAddress[] {
  const layout = layoutOf(o);
  const kv = o.kvPort ?? 5557;
  const replay = o.kvReplayPort ?? 5558;
  if (!Number.isInteger(o.pods) || o.pods < 1 || o.pods > 250) throw new RangeError("pods must be 1..250");
  if (o.roles !== undefined && o.roles.length !== o.pods)
    throw new RangeError(`roles name ${o.roles.length} pods, the fleet has ${o.pods}`);
  const out: PodAddress[] = [];
  for (let i = 0; i < o.pods; i++) {
    out.push(
      layout === "loopback"
        ? { host: `127.0.0.${i + 1}`, port: o.basePort + i, pubPort: kv, replayPort: replay }
        : {
            host: "127.0.0.1",
            port: o.basePort + 3 * i,
            pubPort: o.basePort + 3 * i + 1,
            replayPort: o.basePort + 3 * i + 2,
          },
    );
  }
  for (const a of out) {
    if (a.port < 1 || a.replayPort > 65535 || a.port > 65535)
      throw new RangeError(`port out of range for ${a.host}`);
    if (a.port === a.pubPort || a.port === a.replayPort || a.pubPort === a.replayPort)
      throw new RangeError(`serving port ${a.port} collides with a KV-event port on ${a.host}`);
  }
  return out;
}

/** The kvroute endpoints file (AIBrix static format) for `addresses`, with how to run kvroute against it. */
export function endpointsYaml(o: FleetOptions, addresses: readonly PodAddress[]): string {
  const endpoints = addresses.map((a) => `${a.host}:${a.port}`);
  const first = addresses[0];
  const roles = o.roles;
  // AIBrix's static P/D form: endpoints and rolesets are exclusive per model; the static provider labels each
  // pod `role-name` (prefill/decode) and `roleset-name`, as the StormService controller labels real pods.
  const serving =
    roles === undefined
      ? { endpoints }
      : {
          rolesets: [
            {
              name: SIM_ROLESET,
              prefill: endpoints.filter((_, i) => roles[i] === "prefill"),
              decode: endpoints.filter((_, i) => roles[i] === "decode"),
            },
          ],
        };
  const models = [o.model, ...(o.loras ?? [])].map((name) => ({ name, engine: "vllm", ...serving }));
  const header = [
    `# Generated by kvroute-sim: ${addresses.length} simulated vLLM pod(s), preset ${o.preset}.`,
    "# Point kvroute at it:",
    `#   kvroute --standalone --endpoints-config=<this file> --tokenizer=${o.tokenizer ?? "character"} \\`,
    `#     --kv-events-static --kv-events-port=${first?.pubPort ?? 5557} --kv-events-replay-port=${first?.replayPort ?? 5558}`,
    "# Metrics are served on each endpoint's serving port (/metrics).",
  ];
  return `${header.join("\n")}\n${stringify({ models })}`;
}

/** N simulated pods sharing one tokenizer. */
export class Fleet {
  private constructor(
    readonly options: FleetOptions,
    readonly pods: readonly PodServer[],
    private readonly tokenizer: SimTokenizer,
  ) {}

  /**
   * Start every pod; on a failure, the pods already started are closed and the error rethrown (a port another
   * process holds as a {@link PortInUseError}).
   */
  static async start(o: FleetOptions): Promise<Fleet> {
    if (!isPreset(o.preset))
      throw new RangeError(`unknown preset ${o.preset} (one of ${PRESET_NAMES.join(", ")})`);
    const addresses = fleetAddresses(o);
    const params: SimEngineParams = { ...preset(o.preset), ...o.overrides };
    // Encoding inline: worker threads would compete with the pods for the machine's few cores.
    const tokenizer = loadSimTokenizer(o.tokenizer ?? "character");
    const pods: PodServer[] = [];
    try {
      for (const a of addresses) {
        pods.push(
          await PodServer.start({
            model: o.model,
            params,
            tokenizer,
            host: a.host,
            port: a.port,
            pubPort: a.pubPort,
            replayPort: a.replayPort,
            ...(o.loras === undefined ? {} : { loras: o.loras }),
          }),
        );
      }
    } catch (err) {
      await Promise.all(pods.map((p) => p.close()));
      tokenizer.free();
      const failed = addresses[pods.length];
      throw (failed && asPortInUse(err, o, failed, pods.length)) ?? err;
    }
    return new Fleet(o, pods, tokenizer);
  }

  /** Where each pod listens (actual ports). */
  addresses(): PodAddress[] {
    return this.pods.map((p) => ({
      host: p.host,
      port: p.port,
      pubPort: p.pubPort,
      replayPort: p.replayPort,
    }));
  }

  /** The kvroute endpoints file text. */
  endpointsYaml(): string {
    return endpointsYaml(this.options, this.addresses());
  }

  /** Write the endpoints file; renamed into place so kvroute's file watcher never reads half of it. */
  writeEndpoints(path: string): void {
    const tmp = `${path}.${process.pid}.tmp`;
    writeFileSync(tmp, this.endpointsYaml());
    renameSync(tmp, path);
  }

  /** Close every pod and the tokenizers. */
  async close(): Promise<void> {
    await Promise.all(this.pods.map((p) => p.close()));
    this.tokenizer.free();
  }
}
