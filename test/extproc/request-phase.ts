/**
 * The request phase as Envoy drives it, for tests that only need a decision: headers (optionally with the
 * endpoint picker's subset hint as metadata), then a buffered chat body, and the reply that routes it. The stream
 * is left open so the pick stays in flight; the test decides how the request ends. Also what such a test reads off
 * the decision: the `target-pod` header and the `envoy.lb` and `kvroute` metadata fields.
 *
 * @module
 */
import type { Metadata, ProcessingResponse, ProtoValue } from "../../src/extproc/messages";
import type { ExtProcStream } from "./harness";
import { CHAT_HEADERS, body, chatBody, headers, setHeaders } from "./harness";

/** Namespace and key under which the gateway sends the candidate subset (Gateway API Inference Extension). */
const SUBSET_NAMESPACE = "envoy.lb.subset_hint";
const SUBSET_KEY = "x-gateway-destination-endpoint-subset";

/** Metadata holding `value` under the endpoint picker's subset-hint namespace and key. */
export function subsetHintOf(value: ProtoValue): Metadata {
  return { filter_metadata: { [SUBSET_NAMESPACE]: { fields: { [SUBSET_KEY]: value } } } };
}

/** A subset hint listing `addresses` (`ip:port`). */
export function subsetHint(addresses: readonly string[]): Metadata {
  return subsetHintOf({ listValue: { values: addresses.map((a) => ({ stringValue: a })) } });
}

/** What differs between decisions: extra request headers, the hint, the model and prompt of the chat body. */
export interface ChatRequest {
  readonly headers?: Readonly<Record<string, string>>;
  readonly metadata?: Metadata;
  /** Default `m1` (as {@link chatBody}). */
  readonly model?: string;
  /** Default `hello` (as {@link chatBody}). */
  readonly prompt?: string;
  /** More fields of the chat body (`stream`, `stream_options`, ...). */
  readonly fields?: Readonly<Record<string, unknown>>;
}

/** Send a chat request's headers and body on `stream`; the body's reply (the decision). */
export async function decide(stream: ExtProcStream, request: ChatRequest = {}): Promise<ProcessingResponse> {
  const msg = headers({ ...CHAT_HEADERS, ...request.headers });
  await stream.exchange(
    request.metadata === undefined ? msg : { ...msg, metadata_context: request.metadata },
  );
  const [reply] = await stream.exchange(body(chatBody(request.model, request.prompt, request.fields)));
  if (!reply) throw new Error("no decision reply");
  return reply;
}

/** The `target-pod` header a decision set, or "" when it set none. */
export function targetOf(reply: ProcessingResponse | undefined): string {
  return setHeaders(reply)["target-pod"] ?? "";
}

/** The fields of a decision's `envoy.lb` dynamic metadata (empty when it has none). */
export function lbFields(reply: ProcessingResponse | undefined): Record<string, ProtoValue> {
  return reply?.dynamic_metadata?.fields["envoy.lb"]?.structValue?.fields ?? {};
}

/** The fields of a decision's `kvroute` dynamic metadata, the decision's facts (empty when it has none). */
export function kvrouteFields(reply: ProcessingResponse | undefined): Record<string, ProtoValue> {
  return reply?.dynamic_metadata?.fields["kvroute"]?.structValue?.fields ?? {};
}
