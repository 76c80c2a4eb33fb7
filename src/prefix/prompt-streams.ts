/**
 * Which streamed bodies get their prompt hashed as they arrive ({@link createPromptStream}), and with what: chat
 * completions and completions bodies, kvroute's key scheme only (AIBrix's byte blocks are left to the ordinary
 * path), at the approximate index's block size and at every engine block size the fleet's event-publishing pods
 * use (the preparer falls back when the plan needs another one).
 *
 * @module
 */
import { endpointForPath } from "../request";
import type { BlockHasher } from "./block-key";
import type { PromptShape } from "./json-prompt-scan";
import type { PromptStream } from "./streamed-prompt";
import { createPromptStream } from "./streamed-prompt";

/** Options of {@link createPromptStreams}. */
export interface PromptStreamsOptions {
  readonly hasher: BlockHasher;
  /** The approximate index's key scheme: streams are started for `kvroute` only. */
  readonly scheme: "kvroute" | "aibrix";
  /** The approximate index's block size. */
  readonly blockSize: number;
  /** Most leading blocks hashed per size (`--prefix-max-prompt-blocks`); absent = all. */
  readonly maxBlocks?: number;
  /** Engine block sizes of the fleet's event-publishing pods, read when a stream starts. */
  engineBlockSizes(): Iterable<number>;
  /** The LoRA context of `model` (`""` for a base model), as the director chooses it. */
  contextFor(model: string): string;
  /** Whether `model`'s tokenizer is `character` (a pure look-up: no tokenizer is built for a client's name). */
  characterModel(model: string): boolean;
  /** A stream's scanner gave up. */
  onAbandoned?(): void;
}

/** The stream for a body sent to `path`, or undefined when its prompt is not hashed as it arrives. */
export function createPromptStreams(o: PromptStreamsOptions): (path: string) => PromptStream | undefined {
  return (path) => {
    if (o.scheme !== "kvroute") return undefined;
    const endpoint = endpointForPath(path);
    const shape: PromptShape | undefined =
      endpoint === "chat-completions" ? "chat" : endpoint === "completions" ? "completions" : undefined;
    if (shape === undefined) return undefined;
    const sizes = new Set([o.blockSize]);
    for (const size of o.engineBlockSizes()) if (Number.isInteger(size) && size > 0) sizes.add(size);
    return createPromptStream(shape, {
      hasher: o.hasher,
      blockSizes: [...sizes],
      ...(o.maxBlocks === undefined ? {} : { maxBlocks: o.maxBlocks }),
      contextFor: (model) => o.contextFor(model),
      characterModel: (model) => o.characterModel(model),
      ...(o.onAbandoned ? { onAbandoned: () => o.onAbandoned?.() } : {}),
    });
  };
}
