/**
 * The prefill/decode disaggregation rows of the settings table (the `pd` strategy's prefill hop), kept apart so
 * `settings.ts` stays one screen per concern. Spread into `SETTINGS`; the order here is their order in `--help`.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { decimal, integer, oneOf, text } from "./values";

/** The `Config` fields these rows fill. */
export type PdSettingKey =
  | "pdPrefillStrategy"
  | "pdPrefillRequestTimeoutSeconds"
  | "pdPrefillMaxConcurrency"
  | "pdMinPrefillTokens"
  | "pdKvConnectorType";

/** `pd` strategy settings (AIBrix's names where AIBrix has them). */
export const PD_SETTINGS: { readonly [K in PdSettingKey]: Setting<Config[K]> } = {
  pdPrefillStrategy: {
    flag: "pd-prefill-strategy",
    env: "KVROUTE_PD_PREFILL_STRATEGY",
    type: text(() => "prefix-cache-and-load", "prefix-cache-and-load", { hint: "<strategy>" }),
    description: "pd: strategy spec choosing the prefill pod among the complete rolesets' prefill pods.",
  },
  pdPrefillRequestTimeoutSeconds: {
    flag: "pd-prefill-request-timeout",
    env: "AIBRIX_PREFILL_REQUEST_TIMEOUT",
    type: decimal({ min: 0.01, max: 3600, default: 30 }),
    description:
      "pd: longest prefill request, seconds; then the decode pod prefills itself (counted fallback).",
  },
  pdPrefillMaxConcurrency: {
    flag: "pd-prefill-max-concurrency",
    env: "KVROUTE_PD_PREFILL_MAX_CONCURRENCY",
    type: integer({ min: 1, max: 100_000, default: 256 }),
    description:
      "pd: most prefill requests in flight; beyond, the decode pod prefills itself (counted fallback).",
  },
  pdMinPrefillTokens: {
    flag: "pd-min-prefill-tokens",
    env: "KVROUTE_PD_MIN_PREFILL_TOKENS",
    type: integer({ min: 0, max: 100_000_000, default: 0 }),
    description:
      "pd: uncached prompt tokens (the prompt minus what the best decode pod's prefix cache holds) below which a decode pod prefills itself (a model profile's routingConfig.pdMinPrefillTokens wins).",
  },
  pdKvConnectorType: {
    flag: "pd-kv-connector-type",
    env: "AIBRIX_KV_CONNECTOR_TYPE",
    type: oneOf(["shfs", "nixl"] as const, "shfs"),
    description:
      "pd, vLLM: KV connector family; shfs passes kv_transfer_params, nixl the whole prefill response.",
  },
};
