/**
 * The worker-thread side of the tokenizer pool: loads encoders lazily by spec and answers encode jobs.
 * Runs as the worker entry from `dist/` (compiled `.js`), or through tsx from the `.ts` source (tests, `tsx`).
 *
 * @module
 */
import { parentPort } from "node:worker_threads";
import type { LocalSpec } from "./spec";
import { specKey } from "./spec";
import { loadEncoder } from "./encoder";
import type { SyncEncoder } from "./encoder";

/** A job sent to a worker. `crash` exists for the crash-recovery test. */
export type WorkerRequest =
  | { readonly kind: "encode"; readonly id: number; readonly spec: LocalSpec; readonly text: string }
  | { readonly kind: "crash"; readonly id: number };

/** A worker's answer. Errors carry a short message only (never the text). */
export type WorkerResponse =
  | { readonly id: number; readonly ok: true; readonly ids: Uint32Array }
  | { readonly id: number; readonly ok: false; readonly error: string };

const encoders = new Map<string, SyncEncoder>();

/** Encode one job; the encoder for its spec is loaded on first use. */
function handle(req: WorkerRequest): WorkerResponse {
  if (req.kind === "crash") process.exit(3);
  try {
    const key = specKey(req.spec);
    let encoder = encoders.get(key);
    if (encoder === undefined) {
      encoder = loadEncoder(req.spec);
      encoders.set(key, encoder);
    }
    return { id: req.id, ok: true, ids: encoder.encode(req.text) };
  } catch (err) {
    const message = err instanceof Error ? err.message.slice(0, 200) : "encode failed";
    return { id: req.id, ok: false, error: message };
  }
}

if (parentPort !== null) {
  const port = parentPort;
  port.on("message", (req: WorkerRequest) => {
    const res = handle(req);
    if (res.ok) port.postMessage(res, [res.ids.buffer as ArrayBuffer]);
    else port.postMessage(res);
  });
}
