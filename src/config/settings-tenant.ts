/**
 * The tenant token budget rows of the settings table (tokens per minute per tenant, reserved at admission and
 * settled with the real usage), kept apart so `settings.ts` stays one screen per concern. Spread into `SETTINGS`;
 * the order here is their order in `--help`.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { integer, namedIntegers, optionalText } from "./values";

/** The `Config` fields these rows fill. */
export type TenantSettingKey = "tenantHeader" | "tenantTpm" | "tenantTpmOverrides";

/** Largest budget: far beyond any fleet's minute, and still exact in a Redis integer and a JS number. */
const MAX_TPM = 1_000_000_000_000;

/** Tenant token budget settings. */
export const TENANT_SETTINGS: { readonly [K in TenantSettingKey]: Setting<Config[K]> } = {
  tenantHeader: {
    flag: "tenant-header",
    env: "KVROUTE_TENANT_HEADER",
    type: optionalText({ hint: "<header>" }),
    description:
      "Request header naming the tenant (before the user header, API key, anonymous); unset: none.",
  },
  tenantTpm: {
    flag: "tenant-tpm",
    env: "KVROUTE_TENANT_TPM",
    type: integer({ min: 0, max: MAX_TPM, default: 0 }),
    description: "Tokens per minute of each tenant without an override or user record; 0 = no budget.",
  },
  tenantTpmOverrides: {
    flag: "tenant-tpm-overrides",
    env: "KVROUTE_TENANT_TPM_OVERRIDES",
    type: namedIntegers({ min: 0, max: MAX_TPM }),
    description:
      "Per-tenant tokens per minute, tenant-key=N,... (header:<v>, user:<v>, key:<digest>, anonymous).",
  },
};
