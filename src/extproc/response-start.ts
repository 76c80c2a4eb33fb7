/**
 * The start of a stream's response half: the {@link ResponseTracker} for a routed request, or for a response that
 * came before kvroute decided (a local reply, or an upstream that did not wait for the body). Kept apart from the
 * state machine in `session.ts`, which decides when the response half starts; this file says what it is given.
 *
 * @module
 */
import type { RequestTimeline } from "../observability";
import type { InferenceRequest } from "../request";
import type { Admitted } from "../routing";
import type { BodySendMode } from "./messages";
import type { Head } from "./request-head";
import { createResponseTracker } from "./response-phase";
import type { RequestRecord, ResponseTracker } from "./response-phase";
import type { RoutedPick, SessionDeps } from "./session-deps";
import { tracedFinish } from "./trace-record";

/** What both kinds of start share. */
export interface ResponseStart {
  readonly head: Head;
  /** The response body mode Envoy announced in `protocol_config`, if it did (else the configured one applies). */
  readonly protocolResponseMode: BodySendMode | undefined;
  /** Only a traced request has one. */
  readonly timeline: RequestTimeline | undefined;
}

/** The tracker of a routed request's response. */
export function routedResponse(
  deps: SessionDeps,
  start: ResponseStart,
  request: InferenceRequest,
  pick: RoutedPick,
  admitted: Admitted | undefined,
): ResponseTracker {
  const shared = sharedOptions(deps, start);
  const finished = admitted?.finished;
  return createResponseTracker({
    ...shared,
    // The hook's effects end with the request's usage (a tenant's reservation settled), then the request reports.
    ...(finished === undefined
      ? {}
      : {
          onFinished: (r: RequestRecord) => {
            finished.call(admitted, r.totalTokens);
            shared.onFinished?.(r);
          },
        }),
    decidedMs: deps.now(),
    request,
    pick,
    // Whose usage the completion is charged to, and the hook's response headers (`x-update-rpm`).
    user: admitted?.chargeTo,
    responseHeaders: admitted?.responseHeaders ?? [],
    ...servedOptions(deps, request.model),
  });
}

/** The tracker of a response Envoy began before kvroute decided. */
export function undecidedResponse(deps: SessionDeps, start: ResponseStart): ResponseTracker {
  return createResponseTracker({
    ...sharedOptions(deps, start),
    decidedMs: undefined,
    request: undefined,
    pick: undefined,
  });
}

/** The tracker options a response has whether or not kvroute decided. */
function sharedOptions(deps: SessionDeps, { head, protocolResponseMode, timeline }: ResponseStart) {
  return {
    requestId: head.requestId,
    startedMs: head.startedMs,
    responseMode: protocolResponseMode ?? deps.options.responseBodyMode,
    maxResponseBufferBytes: deps.options.maxResponseBufferBytes,
    now: deps.now,
    onFinished: timeline
      ? tracedFinish(timeline, head.startedMs, deps.hooks.onFinished)
      : deps.hooks.onFinished,
  };
}

/** The response tracker's served-endpoint options for a request of `model`. */
function servedOptions(deps: SessionDeps, model: string) {
  const { servedPod } = deps;
  return {
    ...(servedPod ? { servedPod: (address: string) => servedPod(model, address) } : {}),
    ...(deps.hooks.onServed ? { onServed: deps.hooks.onServed } : {}),
    echoServed: deps.options.conformanceTestMode === true,
  };
}
