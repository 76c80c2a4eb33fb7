/**
 * Turns a parsed request into a `PreparedPrompt`: token ids from the model's tokenizer (the chat template for chat
 * requests when the tokenizer has one; the request's own ids for token prompts), and block keys on demand. Never
 * rejects: a tokenizer failure gives a prompt without tokens and a reason, and routing goes on without prefixes.
 *
 * A long prompt is encoded in a tokenizer worker, and the keys the routing plan will need (the approximate index's
 * block size, the engines' block sizes of the model's event-publishing pods, AIBrix's byte blocks) are hashed there
 * in the same job; any other block size is hashed here on demand. A short prompt is encoded and hashed here, on
 * demand: cheaper than the round trip.
 *
 * @module
 */
import type { InferenceRequest } from "../request";
import type { PreparedPrompt } from "./prepared-prompt";
import type { PromptInput, TokenizedPrompt, TokenizerRegistry } from "../tokenize";
import type { BlockHasher } from "./block-key";
import type { KeyPlan, PlannedKeys } from "./prompt-keys";
import { aibrixKeys, chainKeys } from "./prompt-keys";
import type { StreamedOutcome } from "./streamed-adopt";
import { adoptionOf } from "./streamed-adopt";
import type { StreamedPrompt } from "./streamed-prompt";

/** How the approximate index keys blocks. */
export type ApproximateScheme =
  | { readonly t: "kvroute"; readonly blockSize: number }
  /**
   * AIBrix's: blocks of `blockBytes` bytes of the token byte array (UTF-8 for `character`, else 4-byte BE ids).
   * With `keysOffLoop`, `hash` must be `aibrixPrefixHashes` with `keysOffLoop.seed` (workers compute that).
   */
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
  /** A streamed body's prompt was offered: used, or why not (for metrics). */
  readonly onStreamed?: (outcome: Exclude<StreamedOutcome, "abandoned">) => void;
  /**
   * Most block keys computed per prompt and block size (its leading blocks): strategies look at no more than this,
   * and it bounds the hashing wherever it runs. Absent = all.
   */
  readonly maxBlocks?: number;
  /**
   * Hash the keys of long prompts where they are encoded (a worker). Absent: every key is hashed here on demand.
   * - `seed`: the seed `hasher` was created with;
   * - `engineBlockSizes(model)`: block sizes of the model's event-publishing pods' engines (asked only for a prompt
   *   that goes to a worker; the approximate index's is added here).
   */
  readonly keysOffLoop?: {
    readonly seed: bigint;
    readonly engineBlockSizes: (model: string) => Iterable<number>;
  };
}

/** Token ids of the request's first token-id prompt, as given. */
function ownTokens(request: InferenceRequest): Uint32Array | undefined {
  return request.prompt.t === "tokens" ? Uint32Array.from(request.prompt.ids[0] ?? []) : undefined;
}

/**
 * Prepares a request's prompt in `context`. `streamed`: the prompt as read and hashed while a streamed body
 * arrived; used instead of the tokenizer when it is exactly the parsed request's (`streamed-adopt.ts`). `signal`:
 * the request's stream; once it aborts, a tokenizer job still queued is dropped and the promise resolves at once
 * with a prompt without tokens (reason `aborted`, not counted as unavailable: the request is not routed).
 */
export type PreparePrompt = (
  request: InferenceRequest,
  context: string,
  streamed?: StreamedPrompt,
  signal?: AbortSignal,
) => Promise<PreparedPrompt>;

/** Build the preparer the director calls for plans that read `"prefix"`. */
export function createPromptPreparer(o: PromptPreparerOptions): PreparePrompt {
  const scheme = o.approximate;
  function prepared(
    tokens: Uint32Array | undefined,
    context: string,
    isCharacter: boolean,
    reason?: string,
    planned?: PlannedKeys,
  ): PreparedPrompt {
    const memo = new Map<number, BigUint64Array>(planned?.keys);
    const keys = (blockSize: number): BigUint64Array => {
      if (!tokens) return new BigUint64Array(0);
      let k = memo.get(blockSize);
      if (!k) memo.set(blockSize, (k = chainKeys(o.hasher, tokens, blockSize, context, o.maxBlocks)));
      return k;
    };
    let aibrix = planned?.aibrix;
    return {
      tokens,
      context,
      ...(reason === undefined ? {} : { unavailableReason: reason }),
      keys,
      ...(scheme.t === "aibrix"
        ? {
            approximateKeys: () =>
              tokens
                ? (aibrix ??= aibrixKeys(scheme.hash, tokens, scheme.blockBytes, isCharacter, o.maxBlocks))
                : new BigUint64Array(0),
          }
        : {}),
    };
  }

  /** The keys a worker should hash with the tokens of a request for `model` in `context`. */
  const planFor = (model: string, context: string, seed: bigint, engine: Iterable<number>): KeyPlan => {
    // Only valid sizes: anything else is left to on-demand hashing, which rejects it where it always did.
    const sizes = new Set([...engine].filter((b) => Number.isInteger(b) && b > 0));
    if (scheme.t === "kvroute") sizes.add(scheme.blockSize);
    return {
      seed,
      context,
      blockSizes: [...sizes],
      ...(o.maxBlocks === undefined ? {} : { maxBlocks: o.maxBlocks }),
      ...(scheme.t === "aibrix" ? { aibrixBlockBytes: scheme.blockBytes } : {}),
    };
  };

  const failed = (
    e: unknown,
    context: string,
    isCharacter: boolean,
    signal: AbortSignal | undefined,
  ): PreparedPrompt => {
    // The stream went away: nothing is routed with this prompt, so it is no tokenizer failure to count.
    if (signal?.aborted === true) return prepared(undefined, context, isCharacter, "aborted");
    const reason = (e as { reason?: unknown }).reason;
    const r = typeof reason === "string" ? reason : "tokenizer-failed";
    o.onUnavailable?.(r);
    return prepared(undefined, context, isCharacter, r);
  };

  /** The prepared prompt of a streamed body, when it matches the request (counted either way). */
  const adopted = (
    s: StreamedPrompt,
    request: InferenceRequest,
    context: string,
  ): PreparedPrompt | undefined => {
    // Streams hash kvroute-scheme keys only; none is started for AIBrix's scheme.
    if (scheme.t !== "kvroute") return undefined;
    const offLoop = o.keysOffLoop;
    const needed = offLoop
      ? planFor(request.model, context, offLoop.seed, offLoop.engineBlockSizes(request.model)).blockSizes
      : [scheme.blockSize];
    const outcome = adoptionOf(s, {
      request,
      context,
      tokenizerName: () => {
        try {
          return o.tokenizers.forModel(request.model).name;
        } catch {
          return undefined;
        }
      },
      neededSizes: needed,
    });
    o.onStreamed?.(outcome);
    return outcome === "used"
      ? prepared(s.tokens, context, s.kind === "text", undefined, { keys: s.keys })
      : undefined;
  };

  return async (request, context, streamed, signal) => {
    const ready = streamed && adopted(streamed, request, context);
    if (ready) return ready;
    const offLoop = o.keysOffLoop;
    const plan =
      offLoop &&
      ((): KeyPlan => planFor(request.model, context, offLoop.seed, offLoop.engineBlockSizes(request.model)));
    const given = ownTokens(request);
    if (given) {
      const done = plan && o.tokenizers.keysOffLoop?.(given, plan, signal);
      if (done === undefined) return prepared(given, context, false);
      try {
        const r = await done;
        return prepared(r.tokens, context, false, undefined, r.keys);
      } catch {
        // The worker could not hash them (queue full, a crash): the request's own ids never fail, so take them
        // again (the handed-over copy may be gone) and hash on demand here, as without workers.
        return prepared(ownTokens(request), context, false);
      }
    }
    let isCharacter = false;
    try {
      const tokenizer = o.tokenizers.forModel(request.model);
      isCharacter = tokenizer.name === "character";
      const text = request.prompt.t === "text" ? request.prompt.text : "";
      const chat = request.chat && tokenizer.encodeChat ? request.chat : undefined;
      let r: TokenizedPrompt;
      if (plan && tokenizer.prepare) {
        const input: PromptInput = chat ? { t: "chat", messages: chat } : { t: "text", text };
        r = await tokenizer.prepare(input, plan, signal);
      } else if (chat && tokenizer.encodeChat) {
        r = { tokens: await tokenizer.encodeChat(chat, signal) };
      } else {
        r = { tokens: await tokenizer.encode(text, signal) };
      }
      return prepared(r.tokens, context, isCharacter, undefined, r.keys);
    } catch (e) {
      return failed(e, context, isCharacter, signal);
    }
  };
}
