/**
 * The tokenizer registry: per-model specifications (options and an optional YAML file) over a default, validated
 * at creation; one tokenizer per model, one encoder per local spec, one worker pool for all.
 *
 * @module
 */
import type { KeyPlan } from "../prefix";
import type { TokenizedPrompt, Tokenizer, TokenizerRegistry } from "./tokenizer";
import type { LocalSpec, TokenizerSpec } from "./spec";
import { loadSpecFile, parseSpecString, specKey, validateSpecMap } from "./spec";
import type { EncoderLog, SyncEncoder } from "./encoder";
import { loadEncoder } from "./encoder";
import { WorkerPool } from "./worker-pool";
import { createLocalTokenizer } from "./local";
import { createRemoteTokenizer } from "./remote";

/**
 * Up to this many characters (token ids, for a prompt given as ids) a `character` prompt is encoded and hashed
 * inline whatever `workerThresholdChars` says. Its encoding is a byte copy, so inline costs ~7 µs per 1000
 * characters (encode + 16-token blocks) and always less CPU in all than a worker, which adds 50–200 µs of messaging
 * and thread wake-ups; the worker saves the loop time only (main thread 17/31/57/113/217/423 µs inline vs
 * 19/20/24/32/40/69 µs through the worker at 2/4/8/16/32/64 k characters, 16 in flight, loaded 2-core machine).
 * Inline up to here keeps one prompt's loop time near 0.1 ms; above it (a 220 KB prompt: 1.5 ms inline) the loop's
 * time is the scarce one and a worker takes it.
 */
export const CHEAP_INLINE_MAX = 16_384;

/** What `preload` found: the specs every worker loaded, and those that failed somewhere (with a short reason). */
export interface TokenizerPreload {
  readonly loaded: readonly string[];
  readonly failed: readonly { readonly tokenizer: string; readonly error: string }[];
}

/** Options of `createTokenizerRegistry`. */
export interface TokenizerRegistryOptions {
  /** `character`, `tiktoken`, `remote` or `hf:<path>`: the tokenizer of models with no entry. */
  readonly defaultSpec: string;
  /** Per-model specifications (objects `{type, path?, endpoint?}` or the string form); override `configPath`. */
  readonly perModel?: Readonly<Record<string, unknown>>;
  /** YAML file `models: {<model>: {type: character|tiktoken|remote|hf, path?, endpoint?}}`. */
  readonly configPath?: string;
  /** Texts longer than this go to a worker thread. Default 4096. */
  readonly workerThresholdChars?: number;
  /**
   * `character` prompts (and prompts given as token ids) up to max(this, `workerThresholdChars`) characters (ids)
   * are encoded and hashed inline. Default {@link CHEAP_INLINE_MAX}; benchmarks vary it.
   */
  readonly cheapInlineMax?: number;
  /** Worker threads; 0 encodes everything inline. Default 2. */
  readonly workers?: number;
  /** Worker queue bound (beyond it `queue-full`). Default 1024. */
  readonly workerQueue?: number;
  /** Base URL of a ready server of `model`, for `remote` specs without `endpoint`. */
  readonly remoteEndpointFor?: (model: string) => string | undefined;
  /** Remote call timeout. Default 2000 ms. */
  readonly remoteTimeoutMs?: number;
  /** Remote calls in flight per model. Default 16. */
  readonly remoteConcurrency?: number;
  /** Receives load decisions (which HF encoder is used and why). */
  readonly log?: EncoderLog;
  /** A worker job's signal aborted (see `WorkerPoolOptions.onCancelled`); for metrics. */
  readonly onWorkerCancelled?: (stage: "queued" | "running") => void;
}

/** The registry, with its pool exposed for metrics. */
export interface LocalTokenizerRegistry extends TokenizerRegistry {
  /** The resolved specification of `model`. */
  specFor(model: string): TokenizerSpec;
  /** The worker pool (absent with `workers: 0`). */
  readonly pool: WorkerPool | undefined;
  /**
   * Load every configured local tokenizer now: on this thread (blocking, seconds for a Hugging Face one — call it
   * before serving) and in every worker (in parallel; the promise settles when all workers are done). A tokenizer
   * that fails to load is reported and its model routes without prefixes; the default's failure to load on this
   * thread throws (synchronously), a start-up error as it always was.
   */
  preload(): Promise<TokenizerPreload>;
}

/** Create and validate a registry. Throws, naming the model and field, on a bad specification. */
export function createTokenizerRegistry(options: TokenizerRegistryOptions): LocalTokenizerRegistry {
  const defaultSpec = parseSpecString(options.defaultSpec, "tokenizer default");
  const specs: Record<string, TokenizerSpec> = {
    ...(options.configPath === undefined ? {} : loadSpecFile(options.configPath)),
    ...validateSpecMap({ ...(options.perModel ?? {}) }, "tokenizer perModel"),
  };
  const threshold = options.workerThresholdChars ?? 4096;
  const cheap = Math.max(threshold, options.cheapInlineMax ?? CHEAP_INLINE_MAX);
  const thresholdFor = (spec: LocalSpec): number => (spec.type === "character" ? cheap : threshold);
  const workers = options.workers ?? 2;
  const pool =
    workers > 0
      ? new WorkerPool({
          workers,
          maxQueue: options.workerQueue ?? 1024,
          ...(options.onWorkerCancelled ? { onCancelled: options.onWorkerCancelled } : {}),
        })
      : undefined;
  const encoders = new Map<string, SyncEncoder>();
  const tokenizers = new Map<string, Tokenizer>();
  /** Models whose tokenizer failed to load: not retried per request (a load blocks the loop for seconds). */
  const failedLoads = new Map<string, Error>();
  let closed = false;

  const encoderFor = (spec: LocalSpec): SyncEncoder => {
    const key = specKey(spec);
    let encoder = encoders.get(key);
    if (encoder === undefined) {
      encoder = loadEncoder(spec, options.log);
      encoders.set(key, encoder);
    }
    return encoder;
  };

  const specFor = (model: string): TokenizerSpec => specs[model] ?? defaultSpec;

  const build = (model: string): Tokenizer => {
    const spec = specFor(model);
    if (spec.type === "remote") {
      const fixed = spec.endpoint;
      const endpointFor =
        fixed !== undefined ? () => fixed : (options.remoteEndpointFor ?? (() => undefined));
      return createRemoteTokenizer({
        model,
        endpointFor,
        ...(options.remoteTimeoutMs === undefined ? {} : { timeoutMs: options.remoteTimeoutMs }),
        ...(options.remoteConcurrency === undefined ? {} : { maxConcurrent: options.remoteConcurrency }),
      });
    }
    return createLocalTokenizer({
      spec,
      encoder: () => encoderFor(spec),
      workerThresholdChars: thresholdFor(spec),
      ...(pool === undefined ? {} : { pool }),
    });
  };

  const forModel = (model: string): Tokenizer => {
    if (closed) throw new Error("tokenizer registry is closed");
    let tokenizer = tokenizers.get(model);
    if (tokenizer === undefined) {
      const failed = failedLoads.get(model);
      if (failed !== undefined) throw failed;
      try {
        tokenizer = build(model);
      } catch (err) {
        const error = err instanceof Error ? err : new Error(String(err));
        failedLoads.set(model, error);
        throw error;
      }
      tokenizers.set(model, tokenizer);
    }
    return tokenizer;
  };

  // Not `async`: a default that fails to load must throw here, synchronously, as a start-up error.
  const preload = (): Promise<TokenizerPreload> => {
    const local = new Map<string, LocalSpec>();
    for (const spec of [defaultSpec, ...Object.values(specs)])
      if (spec.type !== "remote") local.set(specKey(spec), spec);
    // Workers first: they load in parallel with this thread's loads below. `character` loads nothing, so a
    // configuration of only that starts no worker until the first long prompt (as before).
    const costly = [...local.values()].filter((spec) => spec.type !== "character");
    const inWorkers = pool !== undefined && costly.length > 0 ? pool.preload(costly) : Promise.resolve([]);
    const failed = new Map<string, string>();
    try {
      forModel(""); // the default: its failure is a start-up error, as before
    } catch (err) {
      inWorkers.catch(() => undefined); // the caller closes the registry, which rejects the workers' loads
      throw err;
    }
    for (const model of Object.keys(specs)) {
      try {
        forModel(model);
      } catch (err) {
        failed.set(specKey(specFor(model)), err instanceof Error ? err.message.slice(0, 200) : "load failed");
      }
    }
    return inWorkers.then((perWorker) => {
      for (const outcomes of perWorker)
        for (const o of outcomes) if (o.error !== undefined && !failed.has(o.key)) failed.set(o.key, o.error);
      return {
        loaded: [...local.keys()].filter((k) => !failed.has(k)),
        failed: [...failed].map(([tokenizer, error]) => ({ tokenizer, error })),
      };
    });
  };

  const keysOffLoop = (
    tokens: Uint32Array,
    plan: () => KeyPlan,
    signal?: AbortSignal,
  ): Promise<TokenizedPrompt> | undefined =>
    pool !== undefined && tokens.length > cheap
      ? pool.prepare(undefined, { t: "tokens", tokens }, plan(), signal)
      : undefined;

  return {
    pool,
    specFor,
    forModel,
    preload,
    keysOffLoop,
    async close(): Promise<void> {
      if (closed) return;
      closed = true;
      await pool?.close();
      for (const encoder of encoders.values()) encoder.free?.();
      encoders.clear();
      tokenizers.clear();
    },
  };
}
