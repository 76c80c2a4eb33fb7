/**
 * Tokenizers: the contract, the registry that picks one per model, and the pieces others reuse.
 *
 * @module
 */
export type { ChatMessage, PromptInput, TokenizedPrompt, Tokenizer, TokenizerRegistry } from "./tokenizer";
export { CHEAP_INLINE_MAX, createTokenizerRegistry } from "./registry";
export type { LocalTokenizerRegistry, TokenizerPreload, TokenizerRegistryOptions } from "./registry";
export type { HfSpec, LocalSpec, RemoteSpec, TokenizerSpec } from "./spec";
export { loadSpecFile, parseSpecString, validateSpec } from "./spec";
export { TokenizeError, tokenizeFailure } from "./errors";
export type { TokenizeFailure } from "./errors";
export { createRemoteTokenizer } from "./remote";
export type { RemoteTokenizerOptions } from "./remote";
export { characterEncoder, loadEncoder, tiktokenEncoder } from "./encoder";
export type { EncoderLog, SyncEncoder } from "./encoder";
export { loadHfEncoder, loadHfEncoders } from "./hf";
export type { HfEncoder, HfEncoders, HfLoadOptions } from "./hf";
export { WorkerPool } from "./worker-pool";
export type { WorkerPoolOptions, WorkerPoolStats } from "./worker-pool";
