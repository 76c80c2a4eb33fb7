/**
 * The prefix-cache rows of the settings table (block keys, the approximate index's bounds, streamed prompts and the
 * prefix-cache strategy's load guards), kept apart so `settings.ts` stays one screen per concern. Spread into
 * `SETTINGS`; the order here is their order in `--help`.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { boolean, integer, oneOf } from "./values";

/** The `Config` fields these rows fill. */
export type PrefixSettingKey =
  | "prefixHash"
  | "prefixBlockSize"
  | "prefixHashSeed"
  | "prefixCacheBlockNumber"
  | "prefixPodMaxBlocks"
  | "prefixMaxPromptBlocks"
  | "prefixStreamedPrompt"
  | "prefixImbalanceAbsCount"
  | "prefixStdDevFactor";

/** Prefix-cache settings (AIBrix's `AIBRIX_PREFIX_CACHE_*` names where AIBrix has one). */
export const PREFIX_SETTINGS: { readonly [K in PrefixSettingKey]: Setting<Config[K]> } = {
  prefixHash: {
    flag: "prefix-hash",
    env: "KVROUTE_PREFIX_HASH",
    type: oneOf(["kvroute", "aibrix"] as const, "kvroute"),
    description:
      "Approximate-index block keys: kvroute (token blocks) or aibrix (byte blocks, AIBrix-compatible).",
  },
  prefixBlockSize: {
    flag: "prefix-block-size",
    env: "AIBRIX_PREFIX_CACHE_BLOCK_SIZE",
    type: integer({ min: 1, max: 65_536, default: 16 }),
    description: "Block size: tokens (kvroute) or bytes of the token byte array (aibrix).",
  },
  prefixHashSeed: {
    flag: "prefix-hash-seed",
    env: "AIBRIX_PREFIX_CACHE_HASH_SEED",
    type: integer({ min: 0, max: Number.MAX_SAFE_INTEGER, default: 0 }),
    description: "Seed of the block-key hash; keep it equal on every replica.",
  },
  prefixCacheBlockNumber: {
    flag: "prefix-cache-block-number",
    env: "AIBRIX_PREFIX_CACHE_BLOCK_NUMBER",
    type: integer({ min: 1, max: 100_000_000, default: 200_000 }),
    description: "Most blocks in the approximate prefix index (least recently used evicted beyond).",
  },
  prefixPodMaxBlocks: {
    flag: "prefix-pod-max-blocks",
    env: "KVROUTE_PREFIX_POD_MAX_BLOCKS",
    type: integer({ min: 1, max: 100_000_000, default: 65_536 }),
    description: "Approximate index: a pod's bound while its engine's num_gpu_blocks is unknown or stale.",
  },
  prefixMaxPromptBlocks: {
    flag: "prefix-max-prompt-blocks",
    env: "KVROUTE_PREFIX_MAX_PROMPT_BLOCKS",
    type: integer({ min: 1, max: 10_000_000, default: 8192 }),
    description: "Prefix strategies match and record at most this many leading blocks of a prompt.",
  },
  prefixStreamedPrompt: {
    flag: "prefix-streamed-prompt",
    env: "KVROUTE_PREFIX_STREAMED_PROMPT",
    type: boolean(true),
    description:
      "Read and hash a chunked (STREAMED) request body's prompt as its chunks arrive, on the event loop; false: " +
      "after the whole body, in a tokenizer worker when long.",
  },
  prefixImbalanceAbsCount: {
    flag: "prefix-imbalance-abs-count",
    env: "AIBRIX_PREFIX_CACHE_POD_RUNNING_REQUEST_IMBALANCE_ABS_COUNT",
    type: integer({ min: 0, max: 1_000_000, default: 8 }),
    description:
      "prefix-cache: above this max−min in-flight spread, only the least-loaded pods are considered.",
  },
  prefixStdDevFactor: {
    flag: "prefix-stddev-factor",
    env: "AIBRIX_PREFIX_CACHE_STANDARD_DEVIATION_FACTOR",
    type: integer({ min: 0, max: 1000, default: 1 }),
    description: "prefix-cache: a matched pod above mean + k·σ in-flight requests is skipped.",
  },
};
