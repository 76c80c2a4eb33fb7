/**
 * The request-headers phase of a session: whether a new request is taken at all (not draining, API key, known
 * path, a body to come), how its body will arrive (the plan fixed by the mode Envoy announced), and the start of
 * the pre-route hook's check so its I/O (a user's limits in Redis) overlaps the body upload. Pure apart from
 * starting that check: the session owns the state and turns a refusal into its one immediate response.
 *
 * @module
 */
import { Code, RouteError } from "../errors";
import type { PromptStream } from "../prefix";
import { ADMITTED_UNCHANGED } from "../routing";
import type { PreRouteHook, PreRouteVerdict } from "../routing";
import type { ApiKeyCheck } from "./api-key";
import { pathWithoutQuery, readHeaderMap, requestIdFrom } from "./headers";
import type { BodySendMode, ProcessingRequest } from "./messages";
import { readSubsetHint, subsetRefusal, type SubsetOutcome } from "./subset-hint";
import { TEST_SELECTION_HEADER, malformedSelection, readTestSelection } from "./conformance-test";
import type { TestSelectionOutcome } from "./conformance-test";

/**
 * How conformance test mode reads a request to a path kvroute does not serve: the suite posts completions-shaped
 * bodies (`model`, `prompt`) to paths of its own routes, which the reference picker routes whatever the path.
 */
export const CONFORMANCE_PARSE_PATH = "/v1/completions";

/** What was learnt from the request headers. */
export interface Head {
  readonly requestId: string;
  readonly path: string;
  readonly headers: ReadonlyMap<string, string>;
  readonly startedMs: number;
  /**
   * The pre-route hook's check, started at request-headers time so its I/O overlaps the body upload; awaited by
   * `decide`. Never rejects. Undefined without a hook or when the hook has nothing to check for this request.
   */
  readonly admission: Promise<PreRouteVerdict> | undefined;
  /** The gateway's endpoint subset (`ip:port` addresses): only these pods may be picked. Undefined: no hint. */
  readonly subset: ReadonlySet<string> | undefined;
  /** Conformance test mode: the `test-epp-endpoint-selection` entries (`ip` or `ip:port`). Undefined: none. */
  readonly testSelection: ReadonlySet<string> | undefined;
}

/** Body-phase behaviour fixed at request-headers time. */
export interface BodyPlan {
  readonly mode: BodySendMode;
  /** Hold the headers reply until the body is complete. */
  readonly deferHeaders: boolean;
}

/** The part of a session's deps the headers phase reads. */
export interface RequestHeadDeps {
  readonly options: {
    readonly requestBodyMode: BodySendMode;
    readonly sendBodyWithoutWaitingForHeaderResponse: boolean;
  };
  readonly endpointKnown: (path: string) => boolean;
  readonly isDraining: () => boolean;
  readonly apiKey: ApiKeyCheck | undefined;
  readonly now: () => number;
  /** The pre-route hook (per-user limits); absent: every request goes straight to routing. */
  readonly admission?: PreRouteHook | undefined;
  /** Conformance test mode: honour `test-epp-endpoint-selection`, route unknown paths as completions. */
  readonly conformanceTestMode?: boolean;
}

/** What Envoy's `protocol_config` announced on this stream, if anything (it wins over the settings). */
export interface AnnouncedModes {
  readonly requestBodyMode: BodySendMode | undefined;
  readonly sendWithoutWaiting: boolean | undefined;
}

/** A request taken (its head and body plan) or refused (the error to answer immediately). */
export type OpenedRequest =
  | {
      readonly t: "accepted";
      readonly head: Head;
      readonly plan: BodyPlan;
      /** Set when the test header was ignored (conformance test mode off), for its counter. */
      readonly testSelectionOutcome?: "ignored";
    }
  | {
      readonly t: "refused";
      readonly requestId: string;
      readonly error: RouteError;
      /** Set when the refusal is the subset hint's (for its counter). */
      readonly subsetOutcome?: SubsetOutcome;
      /** Set when the refusal is the test header's (for its counter). */
      readonly testSelectionOutcome?: Extract<TestSelectionOutcome, "malformed">;
    };

/**
 * How a body is read as it arrives: only a body that arrives in several chunks is (a body in one message gains
 * nothing), and only in the modes that send it so; `none` otherwise.
 */
export function promptStreamOf(
  plan: BodyPlan,
  path: string,
  streamPrompt: ((path: string) => PromptStream | undefined) | undefined,
): PromptStream | "none" {
  const chunked = plan.mode === "STREAMED" || plan.mode === "FULL_DUPLEX_STREAMED";
  return (chunked && streamPrompt?.(path)) || "none";
}

/** The answer to a request a drain refused: at its headers, or later while it was not routed yet (the session). */
export function draining(): RouteError {
  return new RouteError(Code.Draining, "kvroute is shutting down");
}

/**
 * Read a `request_headers` message. Throws `ProtocolError` for malformed headers (as read in state
 * `awaitHeaders`); every reason to refuse the request itself is returned, not thrown. `signal`: the stream's, asked
 * for only when the pre-route hook starts (it is handed to the hook).
 */
export function openRequest(
  msg: ProcessingRequest,
  deps: RequestHeadDeps,
  announced: AnnouncedModes,
  signal?: () => AbortSignal,
): OpenedRequest {
  const headers = readHeaderMap(msg.request_headers?.headers, "awaitHeaders");
  const requestId = requestIdFrom(headers);
  const conformance = deps.conformanceTestMode === true;
  const requested = pathWithoutQuery(headers.get(":path") ?? "");
  const refuse = (error: RouteError): OpenedRequest => ({ t: "refused", requestId, error });
  if (deps.isDraining()) return refuse(draining());
  if (deps.apiKey && !deps.apiKey(headers.get("authorization"))) {
    return refuse(new RouteError(Code.Unauthenticated, "Incorrect API key provided", { param: "api_key" }));
  }
  const known = deps.endpointKnown(requested);
  if (!known && !conformance) return refuse(new RouteError(Code.UnknownPath, "unknown request path"));
  const path = known ? requested : CONFORMANCE_PARSE_PATH;
  if (msg.request_headers?.end_of_stream) {
    return refuse(new RouteError(Code.BadRequest, "request body is required"));
  }
  const hint = readSubsetHint(msg.metadata_context);
  if (hint.t === "empty" || hint.t === "malformed") {
    return { t: "refused", requestId, error: subsetRefusal(hint.t), subsetOutcome: hint.t };
  }
  const subset = hint.t === "subset" ? hint.addresses : undefined;
  const selection = readTestSelection(headers.get(TEST_SELECTION_HEADER));
  if (conformance && selection.t === "malformed") {
    return { t: "refused", requestId, error: malformedSelection(), testSelectionOutcome: "malformed" };
  }
  const testSelection = conformance && selection.t === "selection" ? selection.entries : undefined;
  const mode = announced.requestBodyMode ?? deps.options.requestBodyMode;
  const waitless = announced.sendWithoutWaiting ?? deps.options.sendBodyWithoutWaitingForHeaderResponse;
  const plan: BodyPlan = {
    mode,
    deferHeaders: mode === "FULL_DUPLEX_STREAMED" || (mode === "STREAMED" && waitless),
  };
  // The hook promises never to reject; the catch makes sure a stream that ends before `decide` (and so never
  // awaits this) cannot leave an unhandled rejection behind.
  const admission = deps.admission
    ?.beforeRoute(headers, signal?.())
    ?.catch((): PreRouteVerdict => ADMITTED_UNCHANGED);
  return {
    t: "accepted",
    head: { requestId, path, headers, startedMs: deps.now(), admission, subset, testSelection },
    plan,
    ...(!conformance && selection.t !== "absent" ? { testSelectionOutcome: "ignored" as const } : {}),
  };
}
