/**
 * The prepared prompt: a request's token ids and their block keys, computed once before scoring. Prefix owns it
 * (it is built by `prepare-prompt.ts` from the tokenizer's output and this area's block hashing); the routing
 * contract only hands it to the strategies that read `"prefix"`.
 *
 * @module
 */

/** The prompt's tokens and block keys, prepared before scoring for strategies that read `"prefix"`. */
export interface PreparedPrompt {
  /** Token ids from the model's tokenizer (or the request's own ids); undefined when unavailable. */
  readonly tokens: Uint32Array | undefined;
  /** `""` for a base model; the adapter name when the request is for a LoRA adapter (its blocks are cached apart). */
  readonly context: string;
  /** Why tokens are undefined, when they are (`tokenizer-failed`, `not-prepared`, …). */
  readonly unavailableReason?: string;
  /** Block keys of `tokens` for `blockSize` tokens per block (memoized; empty when tokens are undefined). */
  keys(blockSize: number): BigUint64Array;
  /**
   * Keys for the approximate index when it uses another scheme than `keys` (AIBrix's byte blocks, selected by
   * `--prefix-hash aibrix`); absent means `keys(approximateBlockSize)`.
   */
  approximateKeys?(): BigUint64Array;
}
