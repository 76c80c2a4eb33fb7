/**
 * What other areas may use of `src/prefix`: import it from here, never from a file inside.
 *
 * @module
 */
export { createApproximateIndex } from "./approximate-index";
export { aibrixPrefixHashes, blockHasherFrom, createBlockHasher } from "./block-hasher";
export type { BlockHasher } from "./block-key";
export { createEventIndex } from "./event-index";
export type { KvEventSink, PrefixIndex } from "./prefix-index";
export { createPromptPreparer } from "./prepare-prompt";
export type { PreparePrompt } from "./prepare-prompt";
export type { PreparedPrompt } from "./prepared-prompt";
export { computePlannedKeys, ownedKeyBuffers } from "./prompt-keys";
export type { KeyPlan, PlannedKeys } from "./prompt-keys";
export { createPromptStreams } from "./prompt-streams";
export { createSpeculativeIndex, withSpeculation } from "./speculative-index";
export type { PromptStream, StreamedPrompt } from "./streamed-prompt";
export { loadXxh64 } from "./xxhash";
export type { Xxh64 } from "./xxhash";
