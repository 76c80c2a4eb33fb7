/**
 * Builders for the ext_proc replies kvroute sends. Header values are always written as `raw_value` (Envoy ignores
 * `value` by default and rejects both at once).
 *
 * @module
 */
import type { Pod } from "../cluster";
import type { EndpointScore, PrefixLookup } from "../routing";
import { ROUTING_HEADERS, SYSTEM_OWNED_HEADERS, setHeader } from "./headers";
import type { HeaderValueOption, ProcessingMode, ProcessingResponse, ProtoStruct } from "./messages";

/** The inference-extension metadata namespace and key Envoy's ORIGINAL_DST `metadata_key` reads. */
export const LB_NAMESPACE = "envoy.lb";
export const DESTINATION_ENDPOINT = "x-gateway-destination-endpoint";
/** kvroute's own debugging key in the same namespace (`--emit-endpoint-scores`): a Struct, `ip:port` → score. */
export const ENDPOINT_SCORES = "x-kvroute-endpoint-scores";
/**
 * kvroute's own namespace in the same dynamic metadata: the decision's facts, for Envoy's access log
 * (`%DYNAMIC_METADATA(kvroute:prefix_hit_blocks)%`) and `kvroute route`. Keys are {@link DECISION_KEYS}.
 */
export const KVROUTE_NAMESPACE = "kvroute";
/** The keys of the {@link KVROUTE_NAMESPACE} Struct. */
export const DECISION_KEYS = {
  strategy: "strategy",
  pod: "pod",
  prefixHitBlocks: "prefix_hit_blocks",
  prefixLookupBlocks: "prefix_lookup_blocks",
  decisionMs: "decision_ms",
  fallbackReason: "fallback_reason",
} as const;

/** Every client-sent header the request-headers CONTINUE removes: routing headers and system-owned ones. */
const CONTINUE_REMOVES: readonly string[] = [...ROUTING_HEADERS, ...SYSTEM_OWNED_HEADERS];

/**
 * `request_headers` CONTINUE that removes any client-sent routing headers (they are re-set with the decision) and
 * the system-owned headers kvroute never sets.
 */
export function requestHeadersContinue(modeOverride?: ProcessingMode): ProcessingResponse {
  const reply: ProcessingResponse = {
    request_headers: { response: { header_mutation: { remove_headers: [...CONTINUE_REMOVES] } } },
  };
  if (modeOverride) reply.mode_override = modeOverride;
  return reply;
}

/** What a routing decision tells Envoy. */
export interface Decision {
  readonly pod: Pod;
  /** Fallback endpoints, best first: listed after `pod` in the `envoy.lb` metadata only. */
  readonly fallbacks: readonly Pod[];
  /** Combined scores to show (pick first); absent or empty: no scores key, the reply is as without the option. */
  readonly scores?: readonly EndpointScore[] | undefined;
  readonly strategy: string;
  readonly requestId: string;
  /** The decision's prefix lookup for `pod`; absent when no strategy looked a prefix up. */
  readonly prefix?: PrefixLookup | undefined;
  /** Parse + pick, ms (what `kvroute_decision_duration_seconds` observes). */
  readonly decisionMs: number;
  /** Why the strategy abstained, when the fallback chose the pod. */
  readonly fallbackReason?: string | undefined;
  /** The replaced body's length, when the decision replaces the body (its `content-length` must follow). */
  readonly contentLength?: number | undefined;
}

function decisionHeaders(d: Decision): HeaderValueOption[] {
  const set = [
    setHeader("target-pod", d.pod.address),
    setHeader(DESTINATION_ENDPOINT, d.pod.address),
    setHeader("routing-strategy", d.strategy),
    setHeader("x-request-id", d.requestId),
  ];
  if (d.contentLength !== undefined) set.push(setHeader("content-length", String(d.contentLength)));
  return set;
}

/**
 * The endpoint-picker protocol's metadata value: the pick, then the fallbacks in order of preference, as
 * comma-separated `ip:port` (`[ip]:port` for IPv6, as `Pod.address` is). The headers stay the pick alone: Envoy's
 * ORIGINAL_DST reads the header as one address.
 */
function endpointList(d: Decision): string {
  let out = d.pod.address;
  for (const p of d.fallbacks) out += "," + p.address;
  return out;
}

/** The scores as a Struct keyed by `Pod.address`: a number each, so a reader needs no parsing. */
function scoresStruct(scores: readonly EndpointScore[]): ProtoStruct {
  const fields: ProtoStruct["fields"] = {};
  for (const s of scores) fields[s.pod.address] = { numberValue: s.score };
  return { fields };
}

/**
 * The decision's facts in kvroute's namespace: a handful of fields the decision already holds, so nothing is
 * computed for them. The prefix keys appear only when a lookup happened, the fallback reason only for a fallback.
 */
function decisionFacts(d: Decision): ProtoStruct {
  const fields: ProtoStruct["fields"] = {
    [DECISION_KEYS.strategy]: { stringValue: d.strategy },
    [DECISION_KEYS.pod]: { stringValue: d.pod.name },
    [DECISION_KEYS.decisionMs]: { numberValue: Math.round(d.decisionMs * 1000) / 1000 },
  };
  if (d.prefix !== undefined) {
    fields[DECISION_KEYS.prefixHitBlocks] = { numberValue: d.prefix.hitBlocks };
    fields[DECISION_KEYS.prefixLookupBlocks] = { numberValue: d.prefix.lookupBlocks };
  }
  if (d.fallbackReason !== undefined)
    fields[DECISION_KEYS.fallbackReason] = { stringValue: d.fallbackReason };
  return { fields };
}

/** Both namespaces in the one Struct ext_proc allows: `envoy.lb` (the endpoint-picker protocol) and `kvroute`. */
function decisionMetadata(d: Decision): ProtoStruct {
  const lb: ProtoStruct["fields"] = { [DESTINATION_ENDPOINT]: { stringValue: endpointList(d) } };
  if (d.scores !== undefined && d.scores.length > 0) {
    lb[ENDPOINT_SCORES] = { structValue: scoresStruct(d.scores) };
  }
  return {
    fields: {
      [LB_NAMESPACE]: { structValue: { fields: lb } },
      [KVROUTE_NAMESPACE]: { structValue: decisionFacts(d) },
    },
  };
}

/**
 * The decision as a reply to `phase`: header mutation (AIBrix's `target-pod` and the inference extension's
 * `x-gateway-destination-endpoint`, both overwriting anything the client sent), `clear_route_cache`, and the
 * dynamic metadata (`envoy.lb` and `kvroute`). As the headers reply (deferred modes, where no CONTINUE went before it) it also
 * removes the system-owned headers; the routing headers it sets need no removal. `newBody` (a buffered body's
 * reply) replaces the request body, as AIBrix's P/D decode request does.
 */
export function decisionReply(
  phase: "request_headers" | "request_body",
  d: Decision,
  newBody?: { body: Buffer },
): ProcessingResponse {
  const response = {
    header_mutation: {
      set_headers: decisionHeaders(d),
      ...(phase === "request_headers" ? { remove_headers: [...SYSTEM_OWNED_HEADERS] } : {}),
    },
    clear_route_cache: true,
    ...(newBody ? { body_mutation: { body: newBody.body } } : {}),
  };
  return { [phase]: { response }, dynamic_metadata: decisionMetadata(d) };
}

/**
 * The replies that never change, one frozen object each: most of a conversation's replies are one of these, and
 * the service's codec sends their bytes encoded once (`wire-codec.ts`) for these very objects.
 */
const REQUEST_BODY_CONTINUE: ProcessingResponse = Object.freeze({ request_body: Object.freeze({}) });
const RESPONSE_BODY_CONTINUE: ProcessingResponse = Object.freeze({ response_body: Object.freeze({}) });
const REQUEST_TRAILERS_CONTINUE: ProcessingResponse = Object.freeze({ request_trailers: Object.freeze({}) });
const RESPONSE_TRAILERS_CONTINUE: ProcessingResponse = Object.freeze({
  response_trailers: Object.freeze({}),
});

/** Every constant reply, for the codec to encode once. */
export const CONSTANT_REPLIES: readonly ProcessingResponse[] = [
  REQUEST_BODY_CONTINUE,
  RESPONSE_BODY_CONTINUE,
  REQUEST_TRAILERS_CONTINUE,
  RESPONSE_TRAILERS_CONTINUE,
];

/** An empty CONTINUE for a body chunk (`request_body` or `response_body`). Shared and frozen: never mutate it. */
export function bodyContinue(phase: "request_body" | "response_body"): ProcessingResponse {
  return phase === "request_body" ? REQUEST_BODY_CONTINUE : RESPONSE_BODY_CONTINUE;
}

/** A FULL_DUPLEX_STREAMED body reply that passes `body` on unchanged. */
export function bodyStreamed(
  phase: "request_body" | "response_body",
  body: Buffer,
  endOfStream: boolean,
): ProcessingResponse {
  return {
    [phase]: { response: { body_mutation: { streamed_response: { body, end_of_stream: endOfStream } } } },
  };
}

/** An empty trailers reply. Shared and frozen: never mutate it. */
export function trailersContinue(phase: "request_trailers" | "response_trailers"): ProcessingResponse {
  return phase === "request_trailers" ? REQUEST_TRAILERS_CONTINUE : RESPONSE_TRAILERS_CONTINUE;
}

/** `response_headers` reply adding AIBrix's response headers (`target-pod` is the pod *name* on this side). */
export function responseHeadersReply(
  requestId: string,
  routed?: { pod: Pod; strategy: string; extra: readonly (readonly [string, string])[] },
): ProcessingResponse {
  const set: HeaderValueOption[] = [setHeader("request-id", requestId)];
  if (routed) {
    set.push(
      setHeader("target-pod", routed.pod.name),
      setHeader("target-pod-ip", routed.pod.address),
      setHeader("routing-strategy", routed.strategy),
    );
    for (const [k, v] of routed.extra) set.push(setHeader(k, v));
  }
  return { response_headers: { response: { header_mutation: { set_headers: set } } } };
}
