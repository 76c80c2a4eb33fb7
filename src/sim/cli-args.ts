/**
 * Command-line flags of `kvroute-sim`, parsed without touching the process (so tests can call it).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { PRESET_NAMES } from "./fleet";
import type { FleetLayout, FleetOptions, PortInUseError, PortOption, SimPodRole } from "./fleet";
import type { SimEngineParams } from "./engine/types";

/** The help text. */
export const USAGE = `Usage: kvroute-sim [options]
  --pods N              simulated pods (default 4)
  --base-port P         first serving port (default 8001)
  --preset NAME         engine preset: ${PRESET_NAMES.join(", ")} (default demo)
  --model NAME          served model name (default sim-model)
  --lora NAME           a LoRA adapter served by every pod (repeatable)
  --tokenizer SPEC      character | tiktoken | hf:<path>, as kvroute's --tokenizer (default character)
  --block-hash H        sim (fast, default) or sha256_cbor (vLLM's, PYTHONHASHSEED 0: real pods' published hashes)
  --layout L            loopback (pod i on 127.0.0.(i+1), shared KV ports; Linux default) or shared
  --kv-port P           KV-event PUB port of every pod, loopback layout (default 5557)
  --kv-replay-port P    KV-event replay port of every pod, loopback layout (default 5558)
  --roles LIST          prefill/decode disaggregated fleet, e.g. prefill:2,decode:2 (pods in that order; sets
                        --pods; the endpoints file lists them as an AIBrix roleset)
  --kv-bytes-per-token N   KV bytes per token for P/D transfers (default 262144, Qwen3-32B bf16)
  --kv-link-gbps G      link a decode pod pulls prefilled KV over, Gb/s (default 100)
  --endpoints-out FILE  write the kvroute endpoints file here
  --help                this text
`;

const PORT_FLAGS: { readonly [K in PortOption]: string } = {
  basePort: "--base-port",
  kvPort: "--kv-port",
  kvReplayPort: "--kv-replay-port",
};

/** What to tell the operator when a port is taken: which address, and the flag that moves it (also via `make run`). */
export function portInUseMessage(err: PortInUseError): string {
  const flag = PORT_FLAGS[err.option];
  return (
    `${err.message} (another process, or an earlier run still going?). Free it, or move it with ${flag} <port>` +
    ` (make run: make run RUN_ARGS="${flag} <port>").`
  );
}

function int(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer, got ${JSON.stringify(text)}`);
  return n;
}

/** `prefill:2,decode:2` → one role per pod, in the order given. */
export function parseRoles(text: string): SimPodRole[] {
  const roles: SimPodRole[] = [];
  for (const part of text.split(",")) {
    const m = /^(prefill|decode):([0-9]{1,3})$/.exec(part.trim());
    if (!m) throw new Error(`--roles: expected role:count (prefill or decode), got ${JSON.stringify(part)}`);
    for (let i = 0; i < Number(m[2]); i++) roles.push(m[1] as SimPodRole);
  }
  if (!roles.includes("prefill") || !roles.includes("decode"))
    throw new Error("--roles needs at least one prefill and one decode pod");
  return roles;
}

function positive(name: string, text: string | undefined): number | undefined {
  if (text === undefined) return undefined;
  const n = Number(text);
  if (!Number.isFinite(n) || n <= 0) throw new Error(`--${name} must be a positive number, got ${text}`);
  return n;
}

/** Parse the command line into fleet options (undefined for `--help`). Throws on bad flags. */
export function parseCli(
  argv: readonly string[],
): { fleet: FleetOptions; endpointsOut?: string } | undefined {
  const { values } = parseArgs({
    args: [...argv],
    strict: true,
    options: {
      pods: { type: "string" },
      "base-port": { type: "string" },
      preset: { type: "string" },
      model: { type: "string" },
      lora: { type: "string", multiple: true },
      tokenizer: { type: "string" },
      "block-hash": { type: "string" },
      layout: { type: "string" },
      "kv-port": { type: "string" },
      "kv-replay-port": { type: "string" },
      "endpoints-out": { type: "string" },
      roles: { type: "string" },
      "kv-bytes-per-token": { type: "string" },
      "kv-link-gbps": { type: "string" },
      help: { type: "boolean" },
    },
  });
  if (values.help === true) return undefined;
  const layout = values.layout;
  if (layout !== undefined && layout !== "loopback" && layout !== "shared")
    throw new Error(`--layout must be loopback or shared, got ${JSON.stringify(layout)}`);
  const blockHash = values["block-hash"];
  if (blockHash !== undefined && blockHash !== "sim" && blockHash !== "sha256_cbor")
    throw new Error(`--block-hash must be sim or sha256_cbor, got ${JSON.stringify(blockHash)}`);
  const roles = values.roles === undefined ? undefined : parseRoles(values.roles);
  const pods = int("pods", values.pods, roles?.length ?? 4);
  if (roles !== undefined && pods !== roles.length)
    throw new Error(`--pods ${pods} disagrees with --roles (${roles.length} pods)`);
  const overrides: Partial<SimEngineParams> = {};
  if (blockHash !== undefined) overrides.blockHash = blockHash;
  const bytes = positive("kv-bytes-per-token", values["kv-bytes-per-token"]);
  if (bytes !== undefined) overrides.kvBytesPerToken = bytes;
  const gbps = positive("kv-link-gbps", values["kv-link-gbps"]);
  if (gbps !== undefined) overrides.kvTransferBytesPerSecond = (gbps * 1e9) / 8;
  const fleet: FleetOptions = {
    pods,
    basePort: int("base-port", values["base-port"], 8001),
    preset: values.preset ?? "demo",
    model: values.model ?? "sim-model",
    kvPort: int("kv-port", values["kv-port"], 5557),
    kvReplayPort: int("kv-replay-port", values["kv-replay-port"], 5558),
    ...(layout === undefined ? {} : { layout: layout as FleetLayout }),
    ...(values.tokenizer === undefined ? {} : { tokenizer: values.tokenizer }),
    ...(values.lora === undefined ? {} : { loras: values.lora }),
    ...(Object.keys(overrides).length === 0 ? {} : { overrides }),
    ...(roles === undefined ? {} : { roles }),
  };
  return values["endpoints-out"] === undefined ? { fleet } : { fleet, endpointsOut: values["endpoints-out"] };
}
