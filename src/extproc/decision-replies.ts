/**
 * The request half's answer once the router picked a pod: the decision reply and the replies held for it, in the
 * order the processing mode needs (Envoy's ext_proc message sequence). Kept apart from the state machine in
 * `session.ts`, which decides when to answer; this file only says what the answer is.
 *
 * @module
 */
import type { ProcessingResponse } from "./messages";
import type { BodyPlan } from "./request-head";
import type { RoutedPick } from "./session-deps";
import { bodyContinue, bodyStreamed, decisionReply, trailersContinue } from "./replies";

/** What the decision replies are built from. */
export interface DecidedRequest {
  readonly requestId: string;
  readonly plan: BodyPlan;
  readonly pick: RoutedPick;
  /** Parse + pick, ms. */
  readonly decisionMs: number;
  /** The whole request body (streamed back upstream in FULL_DUPLEX_STREAMED). */
  readonly body: Buffer;
  /** Body chunks received whose replies were held until the decision (deferred modes). */
  readonly heldChunkReplies: number;
  /** The body was completed by trailers rather than `end_of_stream`. */
  readonly byTrailers: boolean;
}

/**
 * Whether the decision's replies can replace the request body: FULL_DUPLEX_STREAMED (the whole body is streamed
 * back after the decision anyway), or a body that came as one message answered by the decision itself (BUFFERED).
 * Not when chunk replies already went upstream unchanged (STREAMED) or headers went before it with trailers after.
 */
export function bodyReplaceable(plan: BodyPlan, messages: number, byTrailers: boolean): boolean {
  if (plan.mode === "FULL_DUPLEX_STREAMED") return true;
  return !plan.deferHeaders && !byTrailers && messages === 1;
}

/** The replies that answer a routed request's body (and trailers), in order. */
export function decisionReplies(r: DecidedRequest): ProcessingResponse[] {
  const { pick, plan, byTrailers } = r;
  // The pick's replacement (P/D's decode request), which the router only sets when `bodyReplaceable` said so.
  const replaced = pick.body === undefined ? undefined : Buffer.from(pick.body);
  const body = replaced ?? r.body;
  const d = {
    pod: pick.pod,
    fallbacks: pick.fallbacks,
    scores: pick.scores,
    strategy: pick.strategy,
    requestId: r.requestId,
    prefix: pick.prefix,
    decisionMs: r.decisionMs,
    fallbackReason: pick.t === "fallback" ? pick.reason : undefined,
    ...(replaced === undefined ? {} : { contentLength: replaced.length }),
  };
  const out: ProcessingResponse[] = [];
  if (plan.mode === "FULL_DUPLEX_STREAMED") {
    out.push(decisionReply("request_headers", d));
    out.push(bodyStreamed("request_body", body, !byTrailers));
  } else if (plan.deferHeaders) {
    out.push(decisionReply("request_headers", d));
    const held = r.heldChunkReplies + (byTrailers ? 0 : 1);
    for (let i = 0; i < held; i++) out.push(bodyContinue("request_body"));
  } else if (!byTrailers) {
    out.push(decisionReply("request_body", d, replaced && { body: replaced }));
  }
  if (byTrailers) out.push(trailersContinue("request_trailers"));
  return out;
}
