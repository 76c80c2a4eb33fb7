/**
 * The Gateway API Inference Extension's subset hint: Envoy (configured by the gateway) may hand kvroute, with the
 * request headers, the endpoints this request may go to, as `metadata_context.filter_metadata
 * ["envoy.lb.subset_hint"]["x-gateway-destination-endpoint-subset"]`, a list of `"ip:port"` strings. kvroute then
 * picks only among ready pods whose `address` is in that list, whatever the strategy.
 *
 * The hint comes from the gateway, not the client, so a hint kvroute cannot honour is the gateway's to fix: an empty
 * list, and a present but malformed one (not a list, a non-string entry, too many or too long entries), are both
 * refused with 503, never silently widened to the whole fleet.
 *
 * @module
 */
import { Code, RouteError } from "../errors";
import type { Metadata, ProtoValue } from "./messages";

/** The `filter_metadata` namespace and key of the endpoint-picker protocol. */
export const SUBSET_NAMESPACE = "envoy.lb.subset_hint";
export const SUBSET_KEY = "x-gateway-destination-endpoint-subset";
/** Most entries read from one hint; a longer list is malformed (no fleet kvroute routes is that large). */
export const MAX_SUBSET_ENTRIES = 1024;
/** Longest entry read: `[` IPv6 `]:port` is at most 47 characters. */
export const MAX_SUBSET_ENTRY_LENGTH = 64;
/** The response header that says why a hint was refused (value: the outcome). */
export const SUBSET_ERROR_HEADER = "x-error-subset-hint";

/** How a request's hint was handled: the closed label set of `kvroute_subset_hint_total{outcome}`. */
export type SubsetOutcome = "honoured" | "empty" | "no-eligible-pod" | "malformed";

/** What a request's metadata says about the subset. */
export type SubsetHint =
  | { readonly t: "absent" }
  | { readonly t: "malformed" }
  | { readonly t: "empty" }
  | { readonly t: "subset"; readonly addresses: ReadonlySet<string> };

const ABSENT: SubsetHint = { t: "absent" };
const MALFORMED: SubsetHint = { t: "malformed" };
const EMPTY: SubsetHint = { t: "empty" };

/** Read the hint of a `ProcessingRequest.metadata_context` (the namespace or key absent: no hint). */
export function readSubsetHint(metadata: Metadata | undefined): SubsetHint {
  const namespace = metadata?.filter_metadata?.[SUBSET_NAMESPACE];
  if (namespace === undefined) return ABSENT;
  // Own properties only: the map comes off the wire, and `fields["__proto__"]` must not read the prototype.
  const fields = namespace.fields;
  if (fields === undefined || !Object.prototype.hasOwnProperty.call(fields, SUBSET_KEY)) return ABSENT;
  const list = (fields[SUBSET_KEY] as ProtoValue).listValue;
  if (list === undefined) return MALFORMED;
  // An empty ListValue decodes without `values` (absent repeated fields stay absent).
  const values: unknown = list.values ?? [];
  if (!Array.isArray(values)) return MALFORMED;
  if (values.length > MAX_SUBSET_ENTRIES) return MALFORMED;
  if (values.length === 0) return EMPTY;
  const addresses = new Set<string>();
  for (const v of values as ProtoValue[]) {
    const s = v.stringValue;
    if (typeof s !== "string" || s.length === 0 || s.length > MAX_SUBSET_ENTRY_LENGTH) return MALFORMED;
    addresses.add(s);
  }
  return { t: "subset", addresses };
}

/** The 503 for a hint kvroute cannot honour; the `x-error-subset-hint` header names the outcome. */
export function subsetRefusal(outcome: Exclude<SubsetOutcome, "honoured">): RouteError {
  const message =
    outcome === "no-eligible-pod"
      ? "no ready pod for the model is in the endpoint subset"
      : outcome === "empty"
        ? "the endpoint subset is empty"
        : "the endpoint subset hint is malformed";
  return new RouteError(outcome === "no-eligible-pod" ? Code.NoReadyPod : Code.Unavailable, message, {
    errorHeader: [SUBSET_ERROR_HEADER, outcome],
  });
}
