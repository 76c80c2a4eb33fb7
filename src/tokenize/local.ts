/**
 * A `Tokenizer` over a local encoder: short prompts are encoded inline, longer ones go to the worker pool so that
 * the gRPC event loop never blocks on a long prompt — and there the chat template is rendered and the block keys
 * are hashed too (`prepare`), so the loop does no work in proportion to the prompt.
 *
 * @module
 */
import type { KeyPlan } from "../prefix";
import type { ChatMessage, PromptInput, TokenizedPrompt, Tokenizer } from "./tokenizer";
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

/** UTF-16 code units of a prompt before rendering (a chat's contents; the template adds a little). */
export function promptChars(input: PromptInput): number {
  if (input.t === "text") return input.text.length;
  let n = 0;
  for (const m of input.messages) n += m.content.length;
  return n;
}

function rejected(err: unknown): Promise<never> {
  return Promise.reject(err instanceof Error ? err : new Error(String(err)));
}

/** Build the tokenizer. `encodeChat` is present when the encoder has a chat template. */
export function createLocalTokenizer(options: LocalTokenizerOptions): Tokenizer {
  const { spec, pool, workerThresholdChars } = options;
  const offLoop = (chars: number): boolean => pool !== undefined && chars > workerThresholdChars;
  const encode = (text: string, signal?: AbortSignal): Promise<Uint32Array> => {
    if (signal?.aborted === true) return Promise.reject(new TokenizeError("aborted"));
    if (pool !== undefined && offLoop(text.length)) return pool.encode(spec, text, signal);
    try {
      return Promise.resolve(options.encoder().encode(text));
    } catch (err) {
      return rejected(err);
    }
  };
  const first = options.encoder();
  const render = first.renderChat;
  const renderInline = (messages: readonly ChatMessage[]): string => {
    if (render === undefined) throw new Error("the tokenizer has no chat template");
    return render(messages);
  };
  const prepare = (
    input: PromptInput,
    plan: () => KeyPlan,
    signal?: AbortSignal,
  ): Promise<TokenizedPrompt> => {
    if (signal?.aborted === true) return Promise.reject(new TokenizeError("aborted"));
    if (pool !== undefined && offLoop(promptChars(input))) return pool.prepare(spec, input, plan(), signal);
    try {
      const text = input.t === "text" ? input.text : renderInline(input.messages);
      return Promise.resolve({ tokens: options.encoder().encode(text) });
    } catch (err) {
      return rejected(err);
    }
  };
  const tokenizer: Tokenizer = { name: first.name, encode, prepare };
  if (render === undefined) return tokenizer;
  return {
    ...tokenizer,
    encodeChat: (messages: readonly ChatMessage[], signal?: AbortSignal) => {
      if (signal?.aborted === true) return Promise.reject(new TokenizeError("aborted"));
      // A long chat is rendered in the worker too: the template's work grows with the prompt.
      if (pool !== undefined && offLoop(promptChars({ t: "chat", messages }))) {
        return pool.prepare(spec, { t: "chat", messages }, NO_KEYS, signal).then((p) => p.tokens);
      }
      let text: string;
      try {
        text = render(messages);
      } catch (err) {
        return rejected(err);
      }
      return encode(text, signal);
    },
  };
}

/** A plan that hashes nothing (`encodeChat` wants the ids only). */
const NO_KEYS: KeyPlan = { seed: 0n, context: "", blockSizes: [] };
