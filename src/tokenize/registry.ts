/**
 * The tokenizer registry: per-model specifications (options and an optional YAML file) over a default, validated
 * at creation; one tokenizer per model, one encoder per local spec, one worker pool for all.
 *
 * @module
 */
import type { Tokenizer, TokenizerRegistry } from "./tokenizer";
import type { LocalSpec, TokenizerSpec } from "./spec";
import { loadSpecFile, parseSpecString, specKey, validateSpecMap } from "./spec";
import type { EncoderLog, SyncEncoder } from "./encoder";
import { loadEncoder } from "./encoder";
import { WorkerPool } from "./worker-pool";
import { createLocalTokenizer } from "./local";
import { createRemoteTokenizer } from "./remote";

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
}

/** The registry, with its pool exposed for metrics. */
export interface LocalTokenizerRegistry extends TokenizerRegistry {
  /** The resolved specification of `model`. */
  specFor(model: string): TokenizerSpec;
  /** The worker pool (absent with `workers: 0`). */
  readonly pool: WorkerPool | undefined;
}

/** Create and validate a registry. Throws, naming the model and field, on a bad specification. */
export function createTokenizerRegistry(options: TokenizerRegistryOptions): LocalTokenizerRegistry {
  const defaultSpec = parseSpecString(options.defaultSpec, "tokenizer default");
  const specs: Record<string, TokenizerSpec> = {
    ...(options.configPath === undefined ? {} : loadSpecFile(options.configPath)),
    ...validateSpecMap({ ...(options.perModel ?? {}) }, "tokenizer perModel"),
  };
  const threshold = options.workerThresholdChars ?? 4096;
  const workers = options.workers ?? 2;
  const pool = workers > 0 ? new WorkerPool({ workers, maxQueue: options.workerQueue ?? 1024 }) : undefined;
  const encoders = new Map<string, SyncEncoder>();
  const tokenizers = new Map<string, Tokenizer>();
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
      workerThresholdChars: threshold,
      ...(pool === undefined ? {} : { pool }),
    });
  };

  return {
    pool,
    specFor,
    forModel(model: string): Tokenizer {
      if (closed) throw new Error("tokenizer registry is closed");
      let tokenizer = tokenizers.get(model);
      if (tokenizer === undefined) {
        tokenizer = build(model);
        tokenizers.set(model, tokenizer);
      }
      return tokenizer;
    },
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
