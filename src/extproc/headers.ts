/**
 * Reading Envoy's header maps and deciding which client headers kvroute never trusts.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import type { HeaderMap, HeaderValueOption } from "./messages";

/**
 * Headers that choose the upstream pod. A client must never set them: kvroute removes them at request-headers time
 * and overwrites them with its own decision.
 */
export const ROUTING_HEADERS: readonly string[] = ["target-pod", "x-gateway-destination-endpoint"];

/**
 * Decode a header map into lower-case keys with string values, first occurrence winning. Values come from
 * `raw_value` (what Envoy sends since 1.27) with `value` as fallback.
 */
export function readHeaderMap(map: HeaderMap | undefined): Map<string, string> {
  const out = new Map<string, string>();
  const list = map?.headers;
  if (!list) return out;
  for (const h of list) {
    const key = h.key.toLowerCase();
    if (out.has(key)) continue;
    const raw = h.raw_value;
    out.set(key, raw && raw.length > 0 ? raw.toString("latin1") : (h.value ?? ""));
  }
  return out;
}

/** Strip the query string and fragment from a `:path`. */
export function pathWithoutQuery(path: string): string {
  const q = path.search(/[?#]/);
  return q < 0 ? path : path.slice(0, q);
}

const REQUEST_ID = /^[\w\-=.]{1,255}$/;
const TRACEPARENT = /^[\da-f]{2}-([\da-f]{32})-[\da-f]{16}-[\da-f]{2}$/;

/**
 * The request id: the incoming `x-request-id` when it is short and made of safe characters (Envoy normally sets
 * one), else the trace id of a valid `traceparent`, else a fresh UUIDv4. A client cannot inject log or header
 * content through it.
 */
export function requestIdFrom(headers: ReadonlyMap<string, string>): string {
  const given = headers.get("x-request-id");
  if (given !== undefined && REQUEST_ID.test(given)) return given;
  const tp = headers.get("traceparent");
  const m = tp === undefined ? null : TRACEPARENT.exec(tp);
  if (m?.[1] && !/^0+$/.test(m[1])) return m[1];
  return randomUUID();
}

/** A `set_headers` entry that overwrites (ext_proc's default when `append` is unset), written as `raw_value`. */
export function setHeader(key: string, value: string): HeaderValueOption {
  return { header: { key, raw_value: Buffer.from(value, "latin1") } };
}
