/**
 * The worker-thread side of the tokenizer pool: loads encoders (at start-up when asked, else on first use) and
 * answers jobs — encode a text; or prepare a prompt: render the chat template, encode, and hash the block keys the
 * routing plan needs, so the event loop gets token ids and keys together (transferred, not copied).
 * Runs as the worker entry from `dist/` (compiled `.js`), or through tsx from the `.ts` source (tests, `tsx`).
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import { lowerThisThreadPriority } from "../background-thread-priority";
import {
  aibrixPrefixHashes,
  blockHasherFrom,
  computePlannedKeys,
  loadXxh64,
  ownedKeyBuffers,
} from "../prefix";
import type { BlockHasher, Xxh64 } from "../prefix";
import type { LocalSpec } from "./spec";
import { specKey } from "./spec";
import { loadEncoder } from "./encoder";
import type { SyncEncoder } from "./encoder";
import type { LoadOutcome, PrepareInput, WorkerRequest, WorkerResponse } from "./worker-protocol";

export type { WorkerRequest, WorkerResponse } from "./worker-protocol";

lowerThisThreadPriority();

const encoders = new Map<string, SyncEncoder>();
/** Hashers by seed (one seed per process in practice; a few at most). */
const hashers = new Map<bigint, BlockHasher>();
/** xxhash-wasm, initialised as the worker starts (prepare jobs wait for it, the first only). */
const xxh: Promise<Xxh64> = loadXxh64();

function encoderFor(spec: LocalSpec): SyncEncoder {
  const key = specKey(spec);
  let encoder = encoders.get(key);
  if (encoder === undefined) {
    encoder = loadEncoder(spec);
    encoders.set(key, encoder);
  }
  return encoder;
}

function short(err: unknown, fallback: string): string {
  return err instanceof Error ? err.message.slice(0, 200) : fallback;
}

/** The token ids of a prepare job's input; a chat-template failure is reported as such. */
function tokensOf(spec: LocalSpec | undefined, input: PrepareInput): Uint32Array | { renderError: string } {
  if (input.t === "tokens") return input.tokens;
  if (spec === undefined) throw new Error("no tokenizer for a text prompt");
  const encoder = encoderFor(spec);
  if (input.t === "text") return encoder.encode(input.text);
  if (encoder.renderChat === undefined) throw new Error("the tokenizer has no chat template");
  let text: string;
  try {
    text = encoder.renderChat(input.messages);
  } catch (err) {
    return { renderError: short(err, "chat template failed") };
  }
  return encoder.encode(text);
}

async function prepare(req: Extract<WorkerRequest, { kind: "prepare" }>): Promise<WorkerResponse> {
  const hash = await xxh;
  const ids = tokensOf(req.spec, req.input);
  if (!(ids instanceof Uint32Array))
    return { id: req.id, ok: false, error: ids.renderError, stage: "render" };
  const seed = req.plan.seed;
  let hasher = hashers.get(seed);
  if (hasher === undefined) hashers.set(seed, (hasher = blockHasherFrom(hash, seed)));
  const keys = computePlannedKeys(
    req.plan,
    ids,
    hasher,
    (bytes, size) => aibrixPrefixHashes(bytes, size, seed),
    req.spec?.type === "character",
  );
  return { id: req.id, ok: true, ids, keys };
}

function load(specs: readonly LocalSpec[]): LoadOutcome[] {
  return specs.map((spec) => {
    try {
      encoderFor(spec);
      return { key: specKey(spec) };
    } catch (err) {
      return { key: specKey(spec), error: short(err, "load failed") };
    }
  });
}

/** Answer one job; the encoder for its spec is loaded on first use. */
async function handle(req: WorkerRequest): Promise<WorkerResponse> {
  if (req.kind === "crash") process.exit(3);
  try {
    switch (req.kind) {
      case "encode":
        return { id: req.id, ok: true, ids: encoderFor(req.spec).encode(req.text) };
      case "prepare":
        return await prepare(req);
      case "load":
        await xxh;
        return { id: req.id, ok: true, loaded: load(req.specs) };
      case "hold":
        Atomics.wait(new Int32Array(req.gate), 0, 0);
        return { id: req.id, ok: true, ids: new Uint32Array(0) };
    }
  } catch (err) {
    return { id: req.id, ok: false, error: short(err, "encode failed") };
  }
}

/** Post `res`, handing over (not copying) its token ids and keys. */
function reply(port: NonNullable<typeof parentPort>, res: WorkerResponse): void {
  if (!res.ok || !("ids" in res)) {
    port.postMessage(res);
    return;
  }
  // The ids may be a view of a larger buffer (a prompt given as tokens is sent back as received): own it first.
  const ids =
    res.ids.byteOffset === 0 && res.ids.byteLength === res.ids.buffer.byteLength ? res.ids : res.ids.slice();
  if (res.keys === undefined) {
    port.postMessage({ ...res, ids }, [ids.buffer as ArrayBuffer]);
    return;
  }
  const { planned, buffers } = ownedKeyBuffers(res.keys);
  port.postMessage({ ...res, ids, keys: planned }, [ids.buffer as ArrayBuffer, ...buffers]);
}

if (parentPort !== null) {
  const port = parentPort;
  // One job at a time per worker (the pool sends the next only after the answer), so order is kept.
  port.on("message", (req: WorkerRequest) => void handle(req).then((res) => reply(port, res)));
}
