/**
 * Reading Envoy's header maps and deciding which client headers kvroute never trusts.
 *
 * @module
 */
import { randomUUID } from "node:crypto";
import type { HeaderMap, HeaderValueOption } from "./messages";
import { ProtocolError } from "./protocol-error";

/**
 * Headers that choose the upstream pod. A client must never set them: kvroute removes them at request-headers time
 * and overwrites them with its own decision.
 */
export const ROUTING_HEADERS: readonly string[] = ["target-pod", "x-gateway-destination-endpoint"];

/**
 * Request headers the Gateway API Inference Extension reserves for the gateway and its endpoint picker, which
 * kvroute never sets: a client could spoof them to whatever reads them upstream, so every headers reply removes
 * them (the request-headers CONTINUE, and the decision when it is the headers reply).
 */
export const SYSTEM_OWNED_HEADERS: readonly string[] = [
  "x-gateway-destination-endpoint-subset",
  "x-gateway-destination-endpoint-served",
  "x-gateway-inference-objective",
  "x-gateway-inference-fairness-id",
  "x-gateway-model-name-rewrite",
  // The conformance suite's test header: read by kvroute itself (in conformance test mode only), never upstream's.
  "test-epp-endpoint-selection",
];

/**
 * Most entries kvroute reads from one header map. Envoy's own default is 100 (`max_headers_count`); a map far
 * beyond any Envoy setting is not a request but a malformed or hostile message, refused before per-entry work.
 */
export const MAX_HEADER_ENTRIES = 10_000;

/**
 * Decode a header map into lower-case keys with string values, first occurrence winning. Every entry has a
 * defined outcome:
 * - `raw_value` (what Envoy sends since 1.27) wins when non-empty, decoded as latin1 so every byte survives
 *   (non-UTF-8 bytes included); otherwise `value`, otherwise `""`;
 * - an entry without a `key` (or with an empty one) is a protocol error (`header-without-key`), as is a map of more
 *   than {@link MAX_HEADER_ENTRIES} entries (`too-many-headers`): the stream ends with INVALID_ARGUMENT and the
 *   reason is counted, instead of a TypeError surfacing as INTERNAL.
 *
 * @throws ProtocolError for the two malformed cases above; `where` names the message in its text.
 */
export function readHeaderMap(map: HeaderMap | undefined, where = "header-map"): Map<string, string> {
  const out = new Map<string, string>();
  const list = map?.headers;
  if (!list) return out;
  if (list.length > MAX_HEADER_ENTRIES) throw new ProtocolError("too-many-headers", where);
  for (const h of list) {
    // `key` is typed as required but comes off the wire: protobuf has no required fields.
    const rawKey: unknown = h.key;
    if (typeof rawKey !== "string" || rawKey.length === 0)
      throw new ProtocolError("header-without-key", where);
    const key = rawKey.toLowerCase();
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

/**
 * The `routing-strategy` request header, unless clients may not choose the strategy (`allowed` false): then it is
 * ignored (the default strategy routes), and a non-empty one is reported to `observer`.
 */
export function strategyHeaderOf(
  headers: ReadonlyMap<string, string>,
  allowed: boolean | undefined,
  observer: { onStrategyHeaderIgnored?(): void },
): string | undefined {
  const given = headers.get("routing-strategy");
  if (allowed !== false || given === undefined) return given;
  if (given.trim() !== "") observer.onStrategyHeaderIgnored?.();
  return undefined;
}
