/**
 * The messages between the tokenizer pool and its worker threads. Plain data only (structured clone); token ids
 * and block keys travel as transferred ArrayBuffers, never copied.
 *
 * @module
 */
import type { KeyPlan, PlannedKeys } from "../prefix";
import type { LocalSpec } from "./spec";
import type { PromptInput } from "./tokenizer";

/** What a `prepare` job starts from: a text or chat to encode with `spec`, or token ids already known. */
export type PrepareInput = PromptInput | { readonly t: "tokens"; readonly tokens: Uint32Array };

/** A job sent to a worker. `crash` exists for the crash-recovery test. */
export type WorkerRequest =
  | { readonly kind: "encode"; readonly id: number; readonly spec: LocalSpec; readonly text: string }
  /** Encode (rendering a chat first) and hash the plan's keys; for `tokens` input only hash (`spec` unused). */
  | {
      readonly kind: "prepare";
      readonly id: number;
      readonly spec: LocalSpec | undefined;
      readonly input: PrepareInput;
      readonly plan: KeyPlan;
    }
  /** Load these encoders now (start-up), so no request waits for a load. */
  | { readonly kind: "load"; readonly id: number; readonly specs: readonly LocalSpec[] }
  | { readonly kind: "crash"; readonly id: number }
  /** Tests: block the worker (`Atomics.wait`) until `gate[0]` is set non-zero, then answer no ids. */
  | { readonly kind: "hold"; readonly id: number; readonly gate: SharedArrayBuffer };

/** How loading one spec went in one worker. */
export interface LoadOutcome {
  /** `specKey` of the spec. */
  readonly key: string;
  /** Absent when it loaded; else a short message (never prompt text). */
  readonly error?: string;
}

/** A worker's answer. Errors carry a short message only (never the text). */
export type WorkerResponse =
  | {
      readonly id: number;
      readonly ok: true;
      readonly ids: Uint32Array;
      /** The planned keys (prepare jobs). */
      readonly keys?: PlannedKeys;
    }
  | { readonly id: number; readonly ok: true; readonly loaded: readonly LoadOutcome[] }
  | {
      readonly id: number;
      readonly ok: false;
      readonly error: string;
      /**
       * `render`: the chat template failed (on the main thread that is a plain error, not a `TokenizeError`, and
       * the pool keeps it so); absent: loading or encoding failed (`worker-error`).
       */
      readonly stage?: "render";
    };
