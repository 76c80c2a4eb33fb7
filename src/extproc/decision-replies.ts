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

/** The replies that answer a routed request's body (and trailers), in order. */
export function decisionReplies(r: DecidedRequest): ProcessingResponse[] {
  const { pick, plan, body, byTrailers } = r;
  const d = {
    pod: pick.pod,
    fallbacks: pick.fallbacks,
    scores: pick.scores,
    strategy: pick.strategy,
    requestId: r.requestId,
    prefix: pick.prefix,
    decisionMs: r.decisionMs,
    fallbackReason: pick.t === "fallback" ? pick.reason : undefined,
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
    out.push(decisionReply("request_body", d));
  }
  if (byTrailers) out.push(trailersContinue("request_trailers"));
  return out;
}
