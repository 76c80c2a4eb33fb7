/**
 * One ext_proc stream = one HTTP request, as a tagged-union state machine. `handle(msg)` returns the replies to
 * write for one message (zero or more, in order) and `close(why)` runs the single cleanup, whatever ends the
 * stream. No gRPC here: the server feeds messages in and writes replies out, so this file is tested directly.
 *
 * Rules it keeps (Envoy's ext_proc message sequence per processing mode):
 * - exactly one reply of the matching kind per message, except FULL_DUPLEX_STREAMED where replies are streamed;
 * - nothing after an immediate response;
 * - in modes where routing needs the body before the headers go upstream (FULL_DUPLEX_STREAMED, or STREAMED with
 *   `send_body_without_waiting_for_header_response`), the headers reply is held until the body is complete, then
 *   the held replies are sent in header → body order.
 *
 * Cancellation: one `AbortController` per stream, created when something is first handed its signal. It aborts,
 * with a {@link StreamAborted} reason, when the stream ends for any reason (`abort`/`close`), and when a drain
 * refuses the request before it was routed (`abort("draining")`). The signal goes to the pre-route hook, then the
 * router (prompt preparation, headroom queue, scoring); a decision under way is answered as soon as it aborts —
 * nothing for a stream that ended, the 503 envelope for a drain — whatever the step it was waiting on.
 *
 * @module
 */
import { echoClientText } from "../client-echo";
import { Code, RouteError } from "../errors";
import type { PromptStream } from "../prefix";
import type { InferenceRequest } from "../request";
import { isWholeJsonObject } from "../request";
import type { Admitted, Pick } from "../routing";
import { bodyBufferFull, holdOn } from "./body-budget";
import { strategyHeaderOf } from "./headers";
import { immediateResponseFor, httpStatusOf } from "./immediate-response";
import type { BodySendMode, ProcessingRequest, ProcessingResponse, RequestCase } from "./messages";
import { requestCase } from "./messages";
import { ProtocolError } from "./protocol-error";
import { subsetRefusal } from "./subset-hint";
import type { SessionDeps } from "./session-deps";
import { draining, openRequest, promptStreamOf } from "./request-head";
import type { BodyPlan, Head } from "./request-head";
import type { ResponseTracker } from "./response-phase";
import { outcomeOfEnd, streamAborted, StreamAborted } from "./close-reason";
import type { AbortReason, SessionClose, SessionEnd } from "./close-reason";
import { routedResponse, undecidedResponse } from "./response-start";
import { bodyReplaceable, decisionReplies } from "./decision-replies";
import { endedBeforeDecision } from "./request-record";
import { raceAbort } from "./race-abort";
import type { RequestTimeline } from "../observability";
import { endClosed, endRejected } from "./trace-record";
import { bodyContinue, requestHeadersContinue, trailersContinue } from "./replies";

export type { RefusedRequest, Router, SessionDeps, SessionHooks, SessionOptions } from "./session-deps";

type State =
  | { readonly t: "awaitHeaders" }
  | {
      readonly t: "awaitBody";
      readonly head: Head;
      readonly plan: BodyPlan;
      readonly chunks: Buffer[];
      bytes: number;
      /** Body chunks received whose replies are held until the decision (deferred modes). */
      heldChunkReplies: number;
      /** Body messages received (empty ones too): the decision may replace the body only when it answers all. */
      messages: number;
      /** The prompt read as the chunks arrive: `undefined` until a first chunk that is not the last, then `none`. */
      stream?: PromptStream | "none" | undefined;
    }
  | { readonly t: "deciding"; readonly head: Head }
  | { readonly t: "responding"; readonly tracker: ResponseTracker }
  | { readonly t: "closed"; readonly why: SessionEnd };

/** Replies to one message: at once, or after the prompt was prepared. */
export type Replies = ProcessingResponse[] | Promise<ProcessingResponse[]>;

/** A live stream's request handling. */
export interface Session {
  /** Replies for one message, in order. Throws `ProtocolError` for a message illegal in the current state. */
  handle(msg: ProcessingRequest): Replies;
  /** True after an immediate response: the server should end the stream (OK) and ignore further messages. */
  readonly ended: boolean;
  /** A decision (admission check or routing) is under way: the router may still hold the stream's signal. */
  readonly deciding: boolean;
  /**
   * Abort the stream's signal while its request is not routed yet (no effect once routed or closed): `draining`
   * answers the request with the 503 envelope (at once when a decision is under way, else when its body completes);
   * any other reason (the stream is ending) answers nothing, and `close` follows.
   */
  abort(why: AbortReason): void;
  /** The single cleanup: aborts the signal, releases any held pick and reports the request once. Idempotent. */
  close(why: SessionClose): void;
}

/** Create the state machine for one stream. */
export function createSession(deps: SessionDeps): Session {
  let state: State = { t: "awaitHeaders" };
  // Created when the hook or the router first asks for the signal: most streams never abort it, and a stream
  // refused early never creates one.
  let controller: AbortController | undefined;
  const signal = (): AbortSignal => (controller ??= new AbortController()).signal;
  /** Why the signal aborted, if it did. */
  const abortedWhy = (): AbortReason | undefined => {
    const reason: unknown = controller?.signal.reason;
    return reason instanceof StreamAborted ? reason.why : undefined;
  };
  let protocolBodyMode: BodySendMode | undefined;
  let protocolResponseMode: BodySendMode | undefined;
  let sendWithoutWaiting: boolean | undefined;
  // This stream's bytes in the shared body budget: released when the body is no longer held (decided, failed,
  // closed); releasing is idempotent, so they go back exactly once whichever comes first.
  const buffered = holdOn(deps.bodyBudget);
  // Only a traced request (tracing on) has one: the untraced path marks nothing.
  let timeline: RequestTimeline | undefined;
  // The hook's effects from its `refuse` check until a response tracker takes them; ended here if none does.
  let held: Admitted | undefined;
  // The model the body named, once parsed: a refusal after that is counted under it (bounded by the reporter).
  let parsedModel: string | undefined;
  const endHeld = (): void => {
    const ended = held;
    held = undefined;
    ended?.finished?.(undefined);
  };

  function fail(reason: unknown, requestId: string, strategy?: string): ProcessingResponse[] {
    const err = RouteError.from(reason);
    buffered.release();
    endHeld();
    deps.hooks.onError?.(err.code, requestId, err, { model: parsedModel, strategy });
    if (state.t === "responding") state.tracker.finish({ kind: "error", status: httpStatusOf(err.code) });
    if (timeline) endRejected(timeline, err, deps.now());
    state = { t: "closed", why: "immediate-response" };
    controller?.abort(streamAborted("immediate-response"));
    return [immediateResponseFor(err, requestId)];
  }

  /**
   * `pending`, or at once when the signal aborts first: the 503 envelope for a drain, nothing for a stream that
   * ended. An abort by an immediate response is this session answering through `pending` itself: keep waiting.
   */
  function untilAborted(
    pending: Promise<ProcessingResponse[]>,
    requestId: string,
  ): Promise<ProcessingResponse[]> {
    // What `pending` settles to later finds the session closed (or aborted) and gives back what it holds.
    return raceAbort(pending, signal(), () => {
      const why = abortedWhy();
      if (why === "immediate-response") return undefined;
      return why === "draining" && state.t !== "closed" ? fail(draining(), requestId) : [];
    });
  }

  function onRequestHeaders(msg: ProcessingRequest): ProcessingResponse[] {
    if (state.t !== "awaitHeaders") throw new ProtocolError("duplicate-request-headers", state.t);
    const opened = openRequest(
      msg,
      { ...deps, conformanceTestMode: deps.options.conformanceTestMode === true },
      { requestBodyMode: protocolBodyMode, sendWithoutWaiting },
      signal,
    );
    if (opened.t === "refused") {
      if (opened.subsetOutcome !== undefined) deps.hooks.onSubsetHint?.(opened.subsetOutcome);
      if (opened.testSelectionOutcome !== undefined)
        deps.hooks.onTestSelection?.(opened.testSelectionOutcome);
      return fail(opened.error, opened.requestId);
    }
    if (opened.testSelectionOutcome !== undefined) deps.hooks.onTestSelection?.(opened.testSelectionOutcome);
    const { head, plan } = opened;
    timeline = deps.tracer?.begin(head.requestId, head.startedMs, head.headers);
    state = { t: "awaitBody", head, plan, chunks: [], bytes: 0, heldChunkReplies: 0, messages: 0 };
    if (plan.deferHeaders) return [];
    // Plain STREAMED sends the headers upstream before the body: ask Envoy (when it allows mode overrides) to
    // buffer the body instead, so the decision can still steer the request.
    return [requestHeadersContinue(plan.mode === "STREAMED" ? { request_body_mode: "BUFFERED" } : undefined)];
  }

  function onRequestBody(msg: ProcessingRequest): Replies {
    if (state.t !== "awaitBody") throw new ProtocolError("unexpected-request-body", state.t);
    const s = state;
    const chunk = msg.request_body?.body ?? Buffer.alloc(0);
    s.bytes += chunk.length;
    s.messages += 1;
    if (s.bytes > deps.options.maxBodyBytes) {
      return fail(
        new RouteError(Code.PayloadTooLarge, `request body exceeds ${deps.options.maxBodyBytes} bytes`),
        s.head.requestId,
      );
    }
    if (!buffered.take(chunk.length)) return fail(bodyBufferFull(), s.head.requestId);
    if (chunk.length > 0) s.chunks.push(chunk);
    const last = msg.request_body?.end_of_stream === true;
    s.stream ??= last ? "none" : promptStreamOf(s.plan, s.head.path, deps.streamPrompt);
    if (s.stream !== "none" && chunk.length > 0) s.stream.push(chunk);
    if (last) return decide(s, false);
    switch (s.plan.mode) {
      case "BUFFERED":
        // The whole body: Envoy answers a body over its buffer limit itself (413) and sends this message without
        // end_of_stream when the request has trailers (which follow the answer, if trailers are sent at all).
        return decide(s, false);
      case "BUFFERED_PARTIAL":
        // Without end_of_stream: cut at Envoy's buffer limit, or whole with trailers after it. Only a whole JSON
        // object is routed; a cut one cannot be parsed, and the proxy's limit is what to tell the client.
        if (isWholeJsonObject(chunk)) return decide(s, false);
        return fail(
          new RouteError(Code.PayloadTooLarge, "request body was truncated by the proxy's buffer limit"),
          s.head.requestId,
        );
      case "FULL_DUPLEX_STREAMED":
        return [];
      default:
        if (s.plan.deferHeaders) {
          s.heldChunkReplies += 1;
          return [];
        }
        return [bodyContinue("request_body")];
    }
  }

  /**
   * The body is complete (end_of_stream, or trailers arrived). The pre-route hook's check, when one was started,
   * is awaited first (a rejection is the answer, as AIBrix answers a user's limits at request headers); then
   * `route`.
   */
  function decide(s: Extract<State, { t: "awaitBody" }>, byTrailers: boolean): Replies {
    const { head } = s;
    // A drain refused it while its body arrived.
    if (abortedWhy() === "draining") return fail(draining(), head.requestId);
    if (head.admission === undefined) return route(s, byTrailers, undefined);
    state = { t: "deciding", head };
    const routed = head.admission.then((verdict) => {
      // The stream ended (or was drained) while the hook answered: its verdict is ignored, nothing is routed, and
      // nothing was reserved yet, so there is nothing to give back.
      if (state.t === "closed" || controller?.signal.aborted === true) return [];
      if (verdict.t === "rejected") return fail(verdict.error, head.requestId);
      return route(s, byTrailers, verdict.admitted);
    });
    return untilAborted(routed, head.requestId);
  }

  /**
   * Parse, pick, and answer in the mode's order. When the plan needs the prompt tokenized, the pick arrives
   * later; the stream waits (Envoy sends nothing meanwhile).
   */
  function route(
    s: Extract<State, { t: "awaitBody" }>,
    byTrailers: boolean,
    admitted: Admitted | undefined,
  ): Replies {
    const { head } = s;
    const t0 = deps.now();
    const body = s.chunks.length === 1 ? s.chunks[0]! : Buffer.concat(s.chunks, s.bytes);
    let request: InferenceRequest;
    let picked: Pick | Promise<Pick>;
    try {
      const streamed = s.stream === undefined || s.stream === "none" ? undefined : s.stream.end();
      timeline?.mark("parse-start", t0);
      request = deps.parse(head.path, body);
      parsedModel = request.model;
      if (timeline) {
        timeline.mark("parse-end");
        timeline.setModel(request.model);
      }
      held = admitted;
      const refused = admitted?.refuse?.(request);
      if (refused) throw refused;
      picked = deps.router.routeWithPrompt({
        requestId: head.requestId,
        request,
        headers: head.headers,
        strategyHeader: strategyHeaderOf(head.headers, deps.options.allowStrategyHeader, deps.hooks),
        signal: signal(),
        ...(streamed === undefined ? {} : { streamed }),
        ...(head.subset === undefined ? {} : { subset: head.subset }),
        ...(head.testSelection === undefined ? {} : { testSelection: head.testSelection }),
        ...(bodyReplaceable(s.plan, s.messages, byTrailers) ? { body } : {}),
        phases: timeline,
      });
    } catch (e) {
      return fail(e, head.requestId);
    }
    if (!(picked instanceof Promise)) return decided(s, byTrailers, request, body, picked, t0, admitted);
    state = { t: "deciding", head };
    const answered = picked.then(
      (pick) => decided(s, byTrailers, request, body, pick, t0, admitted),
      // Aborted: the rejection only says the request left the queue or was never scored; `untilAborted` answered.
      (e: unknown) =>
        state.t === "closed" || controller?.signal.aborted === true ? [] : fail(e, head.requestId),
    );
    return untilAborted(answered, head.requestId);
  }

  function decided(
    s: Extract<State, { t: "awaitBody" }>,
    byTrailers: boolean,
    request: InferenceRequest,
    body: Buffer,
    pick: Pick,
    t0: number,
    admitted: Admitted | undefined,
  ): ProcessingResponse[] {
    const { head, plan } = s;
    if (state.t === "closed" || controller?.signal.aborted === true) {
      // The stream ended (or was drained) while the prompt was being prepared: give the slot straight back.
      const why: SessionEnd = state.t === "closed" ? state.why : "cancelled";
      if (pick.t !== "none") pick.release({ kind: outcomeOfEnd(why) });
      return [];
    }
    // With a subset, no pick means no ready pod of the model in it: the gateway's hint is what failed.
    if (head.subset) deps.hooks.onSubsetHint?.(pick.t === "none" ? "no-eligible-pod" : "honoured");
    if (pick.t === "none") {
      const model = echoClientText(request.model);
      const err = head.subset
        ? subsetRefusal("no-eligible-pod")
        : new RouteError(Code.NoReadyPod, `error on getting pods for model ${model}`);
      return fail(err, head.requestId, pick.strategy);
    }
    // kvroute's own work: a P/D prefill request has its own histogram, and would swamp this one.
    const decisionMs = deps.now() - t0 - (pick.pd?.prefillMs ?? 0);
    deps.hooks.onDecision?.(pick.strategy, decisionMs / 1000, request.model);
    if (timeline && pick.prefix)
      timeline.prefixHit = { blocks: pick.prefix.hitBlocks, promptBlocks: pick.prefix.lookupBlocks };
    deps.hooks.onRouted?.(request.model, pick);
    const tracker = routedResponse(deps, { head, protocolResponseMode, timeline }, request, pick, admitted);
    held = undefined;
    state = { t: "responding", tracker };
    buffered.release();
    return decisionReplies({
      requestId: head.requestId,
      plan,
      pick,
      decisionMs,
      body,
      heldChunkReplies: s.heldChunkReplies,
      byTrailers,
    });
  }

  function onRequestTrailers(): Replies {
    if (state.t === "awaitBody") {
      if (state.bytes === 0)
        return fail(new RouteError(Code.BadRequest, "request body is required"), state.head.requestId);
      return decide(state, true);
    }
    if (state.t === "responding") return [trailersContinue("request_trailers")];
    throw new ProtocolError("unexpected-request-trailers", state.t);
  }

  function onResponse(msg: ProcessingRequest, kind: RequestCase): ProcessingResponse[] {
    if (state.t === "responding") return state.tracker.handle(msg, kind);
    if (state.t === "awaitBody" && kind === "response_headers") {
      // Envoy answered before kvroute decided (a local reply, or an upstream that did not wait for the body).
      const tracker = undecidedResponse(deps, { head: state.head, protocolResponseMode, timeline });
      state = { t: "responding", tracker };
      buffered.release();
      return tracker.handle(msg, kind);
    }
    throw new ProtocolError(`unexpected-${kind}`.replace(/_/g, "-"), state.t);
  }

  return {
    handle(msg) {
      if (state.t === "closed") return [];
      if (msg.protocol_config) {
        protocolBodyMode ??= msg.protocol_config.request_body_mode;
        protocolResponseMode ??= msg.protocol_config.response_body_mode;
        sendWithoutWaiting ??= msg.protocol_config.send_body_without_waiting_for_header_response;
      }
      const kind = requestCase(msg);
      switch (kind) {
        case "request_headers":
          return onRequestHeaders(msg);
        case "request_body":
          return onRequestBody(msg);
        case "request_trailers":
          return onRequestTrailers();
        case "response_headers":
        case "response_body":
        case "response_trailers":
          return onResponse(msg, kind);
        default:
          throw new ProtocolError("empty-message", state.t);
      }
    },
    get ended() {
      return state.t === "closed";
    },
    get deciding() {
      return state.t === "deciding";
    },
    abort(why) {
      if (state.t === "responding" || state.t === "closed") return;
      // A drain refuses a request whose headers are not in yet by the flag checked at headers: nothing to abort.
      if (why === "draining" && state.t === "awaitHeaders") return;
      const c = (controller ??= new AbortController());
      if (!c.signal.aborted) c.abort(streamAborted(why));
    },
    close(why) {
      controller?.abort(streamAborted(why));
      buffered.release();
      endHeld();
      if (state.t === "responding") state.tracker.close(why);
      // Past its headers, not decided yet: the request went away unanswered; it is still reported, once.
      else if (state.t === "awaitBody" || state.t === "deciding")
        deps.hooks.onFinished?.(
          endedBeforeDecision(state.head.requestId, why, state.head.startedMs, deps.now()),
        );
      if (timeline) endClosed(timeline, why, deps.now());
      if (state.t !== "closed") state = { t: "closed", why };
    },
  };
}
