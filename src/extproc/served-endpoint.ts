/**
 * The endpoint-picker protocol's "destination endpoint served": on the response path the gateway tells kvroute
 * which endpoint actually answered, as `metadata_context.filter_metadata["envoy.lb"]
 * ["x-gateway-destination-endpoint-served"]`, one `"ip:port"` string. It differs from the pick when the gateway
 * retried one of the fallback endpoints; kvroute then moves the pick's reservation to the pod that served.
 *
 * Envoy forwards that namespace on the ext_proc messages only when the filter's `metadata_options` lists it under
 * `forwarding_namespaces`; a gateway that does not report it leaves every request `absent`.
 *
 * @module
 */
import type { Metadata, ProtoValue } from "./messages";

/** The `filter_metadata` namespace and key of the protocol. */
export const SERVED_NAMESPACE = "envoy.lb";
export const SERVED_KEY = "x-gateway-destination-endpoint-served";
/** Longest value read: `[` IPv6 `]:port` is at most 47 characters. */
export const MAX_SERVED_LENGTH = 64;

/**
 * What the report said, as counted by `kvroute_served_endpoint_total{outcome}` (a closed set): `same` (the pick
 * served), `moved` (another pod of the model served; the reservation followed), `unknown` (an address that is no
 * pod of the model: the pick is kept), `malformed` (not an `ip:port` string), `absent` (the response went by
 * without a report).
 */
export type ServedOutcome = "same" | "moved" | "unknown" | "malformed" | "absent";

/** What one message's metadata carries. */
export type ServedReport =
  | { readonly t: "absent" }
  | { readonly t: "malformed" }
  | { readonly t: "address"; readonly address: string };

const ABSENT: ServedReport = { t: "absent" };
const MALFORMED: ServedReport = { t: "malformed" };

/** `a.b.c.d:port` or `[v6]:port`, port 1..65535 (the shapes `Pod.address` takes). */
const ADDRESS = /^(?:\d{1,3}(?:\.\d{1,3}){3}|\[[0-9A-Fa-f:.]+\]):(\d{1,5})$/;

/** Read the report of one `ProcessingRequest.metadata_context` (namespace or key absent: `absent`). */
export function readServedEndpoint(metadata: Metadata | undefined): ServedReport {
  const fields = metadata?.filter_metadata?.[SERVED_NAMESPACE]?.fields;
  // Own properties only: the map comes off the wire, and `fields["__proto__"]` must not read the prototype.
  if (fields === undefined || !Object.prototype.hasOwnProperty.call(fields, SERVED_KEY)) return ABSENT;
  const value = (fields[SERVED_KEY] as ProtoValue).stringValue;
  if (typeof value !== "string" || value.length === 0 || value.length > MAX_SERVED_LENGTH) return MALFORMED;
  const m = ADDRESS.exec(value);
  const port = m ? Number(m[1]) : 0;
  if (port < 1 || port > 65_535) return MALFORMED;
  return { t: "address", address: value };
}
