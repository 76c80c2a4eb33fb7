/**
 * Turns a parsed request into a `PreparedPrompt`: token ids from the model's tokenizer (the chat template for chat
 * requests when the tokenizer has one; the request's own ids for token prompts), and block keys on demand. Never
 * rejects: a tokenizer failure gives a prompt without tokens and a reason, and routing goes on without prefixes.
 *
 * @module
 */
import type { InferenceRequest } from "../request/inference-request";
import type { PreparedPrompt } from "../routing/framework";
import type { TokenizerRegistry } from "../tokenize/tokenizer";
import type { BlockHasher } from "./block-key";

/** How the approximate index keys blocks. */
export type ApproximateScheme =
  | { readonly t: "kvroute"; readonly blockSize: number }
  /** AIBrix's: blocks of `blockBytes` bytes of the token byte array (UTF-8 for `character`, else 4-byte BE ids). */
  | {
      readonly t: "aibrix";
      readonly blockBytes: number;
      readonly hash: (tokenBytes: Uint8Array, blockBytes: number) => BigUint64Array;
    };

/** Options of `createPromptPreparer`. */
export interface PromptPreparerOptions {
  readonly tokenizers: TokenizerRegistry;
  readonly hasher: BlockHasher;
  readonly approximate: ApproximateScheme;
  /** A tokenizer failed (reason is a short constant); for metrics. */
  readonly onUnavailable?: (reason: string) => void;
  /**
   * Most block keys computed per prompt and block size (its leading blocks): hashing runs on the event loop, and
   * strategies look at no more than this anyway. Absent = all.
   */
  readonly maxBlocks?: number;
}

/** Token ids of the request's first token-id prompt, as given. */
function ownTokens(request: InferenceRequest): Uint32Array | undefined {
  return request.prompt.t === "tokens" ? Uint32Array.from(request.prompt.ids[0] ?? []) : undefined;
}

/** The token byte array AIBrix hashes: UTF-8 of the text for `character`, else each id as 4 big-endian bytes. */
function tokenBytes(tokens: Uint32Array, isCharacter: boolean): Uint8Array {
  if (isCharacter) return Uint8Array.from(tokens);
  const out = new Uint8Array(tokens.length * 4);
  const view = new DataView(out.buffer);
  for (let i = 0; i < tokens.length; i++) view.setUint32(i * 4, tokens[i] ?? 0, false);
  return out;
}

/** Build the preparer the director calls for plans that read `"prefix"`. */
export function createPromptPreparer(
  o: PromptPreparerOptions,
): (request: InferenceRequest, context: string) => Promise<PreparedPrompt> {
  function prepared(
    tokens: Uint32Array | undefined,
    context: string,
    isCharacter: boolean,
    reason?: string,
  ): PreparedPrompt {
    const memo = new Map<number, BigUint64Array>();
    const keys = (blockSize: number): BigUint64Array => {
      if (!tokens) return new BigUint64Array(0);
      let k = memo.get(blockSize);
      if (!k) memo.set(blockSize, (k = o.hasher.chain(leading(tokens, blockSize), blockSize, context)));
      return k;
    };
    /** The tokens of the first `maxBlocks` blocks of `unit` tokens each (a view, no copy). */
    const leading = (all: Uint32Array, unit: number): Uint32Array =>
      o.maxBlocks !== undefined && all.length > o.maxBlocks * unit
        ? all.subarray(0, o.maxBlocks * unit)
        : all;
    const scheme = o.approximate;
    let aibrix: BigUint64Array | undefined;
    return {
      tokens,
      context,
      ...(reason === undefined ? {} : { unavailableReason: reason }),
      keys,
      ...(scheme.t === "aibrix"
        ? {
            approximateKeys: () =>
              tokens
                ? (aibrix ??= scheme.hash(
                    // A block is `blockBytes` bytes: 1 byte a token for `character`, else 4.
                    tokenBytes(
                      leading(tokens, Math.ceil(scheme.blockBytes / (isCharacter ? 1 : 4))),
                      isCharacter,
                    ),
                    scheme.blockBytes,
                  ))
                : new BigUint64Array(0),
          }
        : {}),
    };
  }

  return async (request, context) => {
    const given = ownTokens(request);
    if (given) return prepared(given, context, false);
    const tokenizer = o.tokenizers.forModel(request.model);
    const isCharacter = tokenizer.name === "character";
    try {
      const text = request.prompt.t === "text" ? request.prompt.text : "";
      const tokens =
        request.chat && tokenizer.encodeChat
          ? await tokenizer.encodeChat(request.chat)
          : await tokenizer.encode(text);
      return prepared(tokens, context, isCharacter);
    } catch (e) {
      const reason = (e as { reason?: unknown }).reason;
      const r = typeof reason === "string" ? reason : "tokenizer-failed";
      o.onUnavailable?.(r);
      return prepared(undefined, context, isCharacter, r);
    }
  };
}
