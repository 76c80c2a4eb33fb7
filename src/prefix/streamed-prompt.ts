/**
 * A streamed request body's prompt, tokenized and hashed as its chunks arrive: the {@link PromptScanner} extracts
 * the prompt's bytes (the `character` tokenizer's ids: one per UTF-8 byte) or its token ids, and every block a
 * chunk completes is hashed at once, continuing the chain from the previous block's key — the same keys
 * `chainKeys` gives for the whole prompt (the chain carries nothing but the previous key). When the last chunk
 * arrives, only its own blocks are left to hash.
 *
 * Hashing waits for the `model` field (the chain's root depends on the LoRA context it names); a body that sends
 * `model` after the prompt has its blocks hashed when `model` arrives. Whether the result is used is decided by
 * the preparer against the parsed request (`streamed-adopt.ts`).
 *
 * @module
 */
import type { BlockHasher } from "./block-key";
import { PromptScanner } from "./json-prompt-scan";
import type { PromptShape } from "./json-prompt-scan";

/** What a complete streamed body gave. */
export interface StreamedPrompt {
  readonly kind: "text" | "ids";
  /** The top-level `model` as the scanner decoded it. */
  readonly model: string;
  /** The LoRA context the keys were chained in. */
  readonly context: string;
  /** Text prompts: the prompt's UTF-8 bytes. Token-id prompts: empty. */
  readonly bytes: Uint8Array;
  /** The token ids: one per byte for text (`character`), the given ids otherwise. */
  readonly tokens: Uint32Array;
  /** Keys of the leading blocks (at most `maxBlocks`), by block size. */
  readonly keys: ReadonlyMap<number, BigUint64Array>;
}

/** A body being read. */
export interface PromptStream {
  /** The next chunk of the body (scanned, and its completed blocks hashed). */
  push(chunk: Uint8Array): void;
  /** The body is complete: the prompt, or undefined when the scanner gave up (counted as `abandoned`). */
  end(): StreamedPrompt | undefined;
}

/** Options of {@link createPromptStream}. */
export interface PromptStreamOptions {
  readonly hasher: BlockHasher;
  /** kvroute-scheme block sizes to hash (each valid: a positive integer). */
  readonly blockSizes: readonly number[];
  /** Most leading blocks hashed per size; absent = all. */
  readonly maxBlocks?: number;
  /** The LoRA context of a model (`""` for a base model), as the director will choose it. */
  contextFor(model: string): string;
  /** Whether `model`'s tokenizer is `character` (a text prompt is then its UTF-8 bytes). */
  characterModel(model: string): boolean;
  /** The scanner gave up on this body (or its model's tokenizer is not `character`). Called at most once. */
  onAbandoned?(): void;
}

/** One block size's chain so far. */
interface Chain {
  readonly size: number;
  keys: BigUint64Array;
  /** Blocks hashed. */
  done: number;
}

/** Start reading one body of `shape`. */
export function createPromptStream(shape: PromptShape, o: PromptStreamOptions): PromptStream {
  const scanner = new PromptScanner(shape);
  const chains: Chain[] = o.blockSizes.map((size) => ({ size, keys: new BigUint64Array(0), done: 0 }));
  const maxBlocks = o.maxBlocks ?? Number.POSITIVE_INFINITY;
  let context: string | undefined;
  let counted = false;

  const abandon = (): undefined => {
    scanner.abandon();
    if (!counted) {
      counted = true;
      o.onAbandoned?.();
    }
    return undefined;
  };

  /** Hash every block the prompt's bytes (or ids) now complete, per size, from where that chain stopped. */
  const hashCompleted = (ctx: string): void => {
    const source = scanner.tokens();
    const length = source.length;
    for (const chain of chains) {
      const { size } = chain;
      const target = Math.min(Math.floor(length / size), maxBlocks);
      if (target <= chain.done) continue;
      const parent = chain.done > 0 ? chain.keys[chain.done - 1] : undefined;
      const fresh = o.hasher.chain(source.subarray(chain.done * size, target * size), size, ctx, parent);
      if (target > chain.keys.length) {
        const keys = new BigUint64Array(Math.min(maxBlocks, Math.max(target, chain.keys.length * 2, 64)));
        keys.set(chain.keys.subarray(0, chain.done));
        chain.keys = keys;
      }
      chain.keys.set(fresh, chain.done);
      chain.done = target;
    }
  };

  let character = false;
  const step = (): void => {
    const model = scanner.model;
    if (model === undefined) return;
    if (context === undefined) {
      context = o.contextFor(model);
      character = o.characterModel(model);
    }
    // A text prompt's bytes are its tokens only for `character`.
    if (scanner.kind === "text" && !character) return void abandon();
    if (scanner.kind !== undefined) hashCompleted(context);
  };

  return {
    push(chunk) {
      if (scanner.abandoned) return;
      scanner.push(chunk);
      if (scanner.abandoned) return void abandon();
      step();
    },
    end() {
      if (scanner.abandoned || !scanner.done || scanner.model === undefined) return abandon();
      step();
      const kind = scanner.kind ?? "text";
      if (scanner.abandoned || context === undefined || (kind === "text" && !character)) return abandon();
      const source = scanner.tokens();
      const bytes = source instanceof Uint8Array ? source : new Uint8Array(0);
      const tokens = source instanceof Uint8Array ? new Uint32Array(source) : source.slice();
      const keys = new Map<number, BigUint64Array>();
      for (const chain of chains) keys.set(chain.size, chain.keys.slice(0, chain.done));
      return { kind, model: scanner.model, context, bytes, tokens, keys };
    },
  };
}
