/**
 * A `Tokenizer` over a local encoder: short texts are encoded inline, texts longer than the threshold go to the
 * worker pool so that the gRPC event loop never blocks on a long prompt.
 *
 * @module
 */
import type { ChatMessage, Tokenizer } from "./tokenizer";
import type { LocalSpec } from "./spec";
import type { SyncEncoder } from "./encoder";
import type { WorkerPool } from "./worker-pool";
import { TokenizeError } from "./errors";

/** Options of `createLocalTokenizer`. */
export interface LocalTokenizerOptions {
  readonly spec: LocalSpec;
  /** The main-thread encoder, loaded on first need. */
  readonly encoder: () => SyncEncoder;
  /** Texts longer than this many UTF-16 code units go to `pool`. */
  readonly workerThresholdChars: number;
  /** Absent: everything is encoded inline. */
  readonly pool?: WorkerPool;
}

/** Build the tokenizer. `encodeChat` is present when the encoder has a chat template. */
export function createLocalTokenizer(options: LocalTokenizerOptions): Tokenizer {
  const { spec, pool, workerThresholdChars } = options;
  const encode = (text: string, signal?: AbortSignal): Promise<Uint32Array> => {
    if (signal?.aborted === true) return Promise.reject(new TokenizeError("aborted"));
    if (pool !== undefined && text.length > workerThresholdChars) return pool.encode(spec, text, signal);
    try {
      return Promise.resolve(options.encoder().encode(text));
    } catch (err) {
      return Promise.reject(err instanceof Error ? err : new Error(String(err)));
    }
  };
  const first = options.encoder();
  const render = first.renderChat;
  const tokenizer: Tokenizer = { name: first.name, encode };
  if (render === undefined) return tokenizer;
  return {
    ...tokenizer,
    encodeChat: (messages: readonly ChatMessage[], signal?: AbortSignal) => {
      let text: string;
      try {
        text = render(messages);
      } catch (err) {
        return Promise.reject(err instanceof Error ? err : new Error(String(err)));
      }
      return encode(text, signal);
    },
  };
}
