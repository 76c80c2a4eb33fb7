/**
 * Command-line flags of `kvroute-sim`, parsed without touching the process (so tests can call it).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { PRESET_NAMES } from "./fleet";
import type { FleetLayout, FleetOptions } from "./fleet";

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
  --endpoints-out FILE  write the kvroute endpoints file here
  --help                this text
`;

function int(name: string, text: string | undefined, fallback: number): number {
  if (text === undefined) return fallback;
  const n = Number(text);
  if (!Number.isInteger(n)) throw new Error(`--${name} must be an integer, got ${JSON.stringify(text)}`);
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
  const fleet: FleetOptions = {
    pods: int("pods", values.pods, 4),
    basePort: int("base-port", values["base-port"], 8001),
    preset: values.preset ?? "demo",
    model: values.model ?? "sim-model",
    kvPort: int("kv-port", values["kv-port"], 5557),
    kvReplayPort: int("kv-replay-port", values["kv-replay-port"], 5558),
    ...(layout === undefined ? {} : { layout: layout as FleetLayout }),
    ...(values.tokenizer === undefined ? {} : { tokenizer: values.tokenizer }),
    ...(values.lora === undefined ? {} : { loras: values.lora }),
    ...(blockHash === undefined ? {} : { overrides: { blockHash } }),
  };
  return values["endpoints-out"] === undefined ? { fleet } : { fleet, endpointsOut: values["endpoints-out"] };
}
