/**
 * What a session is given: stream-independent options, the router it asks for decisions, the hooks it reports
 * through, and the rest of its dependencies. Kept apart from the state machine in `session.ts`.
 *
 * @module
 */
import type { Pod } from "../cluster";
import type { Code, RouteError } from "../errors";
import type { PromptStream, StreamedPrompt } from "../prefix";
import type { InferenceRequest } from "../request";
import type { RequestTracer } from "../observability";
import type { Pick, PreRouteHook, RoutePhases } from "../routing";
import type { ApiKeyCheck } from "./api-key";
import type { BodyBudget } from "./body-budget";
import type { BodySendMode } from "./messages";
import type { RequestRecord } from "./response-phase";
import type { ServedOutcome } from "./served-endpoint";
import type { SubsetOutcome } from "./subset-hint";
import type { TestSelectionOutcome } from "./conformance-test";

/** A pick that routed the request somewhere (a strategy's choice or its fallback). */
export type RoutedPick = Extract<Pick, { t: "routed" | "fallback" }>;

/** Stream-independent settings (from `Config`). */
export interface SessionOptions {
  readonly maxBodyBytes: number;
  /** Request body mode assumed when Envoy sends no `protocol_config`. */
  readonly requestBodyMode: BodySendMode;
  readonly responseBodyMode: BodySendMode;
  readonly sendBodyWithoutWaitingForHeaderResponse: boolean;
  /** Bound on a buffered non-SSE response body kept for usage harvesting. */
  readonly maxResponseBufferBytes: number;
  /** Whether the `routing-strategy` request header may choose the strategy; default true (AIBrix). */
  readonly allowStrategyHeader?: boolean;
  /**
   * Conformance test mode (off by default): honour the suite's `test-epp-endpoint-selection` header, route a path
   * kvroute does not serve as a completions request, and echo the served endpoint as
   * `x-conformance-test-served-endpoint`.
   */
  readonly conformanceTestMode?: boolean;
}

/** What a routing decision needs; implemented by the director. */
export interface Router {
  /** Decide (possibly after preparing the prompt asynchronously); the pick's load is reserved when it resolves. */
  routeWithPrompt(input: {
    requestId: string;
    request: InferenceRequest;
    headers: { get(name: string): string | undefined };
    strategyHeader: string | undefined;
    /** Aborts when the stream closes, so a request waiting for a pod with headroom stops waiting. */
    signal?: AbortSignal;
    /** The prompt as read and hashed while a streamed body arrived (the router checks it against `request`). */
    streamed?: StreamedPrompt;
    /** The gateway's endpoint subset: only ready pods whose `address` is in it may be picked. */
    subset?: ReadonlySet<string>;
    /** Conformance test mode: the test header's entries (`ip` or `ip:port`) to choose among. */
    testSelection?: ReadonlySet<string>;
    /** A traced request's phase marks; undefined when the request is not traced. */
    phases?: RoutePhases | undefined;
    /**
     * The whole request body, when the decision's reply can replace it (see `bodyReplaceable`): a pick carrying
     * `body` (P/D's decode request) is then sent upstream instead. Absent: the pick must not carry one.
     */
    body?: Uint8Array;
  }): Pick | Promise<Pick>;
}

/** What was known of a refused request when it was refused. */
export interface RefusedRequest {
  /** The model the body named; absent when it was refused before its body was parsed. */
  readonly model?: string | undefined;
  /** The strategy spec that found no ready pod; absent when no strategy ran. */
  readonly strategy?: string | undefined;
}

/** Callbacks for metrics and logs; all optional. */
export interface SessionHooks {
  /**
   * A request was answered with an immediate error response. `about` holds the model its body named, once the body
   * was read, and the strategy that found no pod, when one did (raw: the hook bounds them into labels).
   */
  onError?(code: Code, requestId: string, err: RouteError, about: RefusedRequest): void;
  /** Parse + pick took `seconds`. */
  /** A request was routed (not for errors): its strategy, the parse + pick time, and the model. */
  onDecision?(strategy: string, seconds: number, model: string): void;
  /** A request was routed to `pick.pod` (right after `onDecision`): for per-pod metrics. */
  onRouted?(model: string, pick: RoutedPick): void;
  /** The request finished (exactly once per stream that got past request headers). */
  onFinished?(record: RequestRecord): void;
  /** A `routing-strategy` header was ignored (`allowStrategyHeader` off): the default strategy routed it. */
  onStrategyHeaderIgnored?(): void;
  /** A request carried an endpoint subset hint: how it was handled (once per such request that was decided). */
  onSubsetHint?(outcome: SubsetOutcome): void;
  /** How the gateway's served-endpoint report was handled (once per routed request whose response began). */
  onServed?(outcome: ServedOutcome): void;
  /** A request carried the conformance test header and it was ignored (mode off) or malformed. */
  onTestSelection?(outcome: Extract<TestSelectionOutcome, "ignored" | "malformed">): void;
}

/** Everything a session needs. */
export interface SessionDeps {
  readonly options: SessionOptions;
  readonly router: Router;
  readonly parse: (path: string, body: Uint8Array) => InferenceRequest;
  readonly endpointKnown: (path: string) => boolean;
  /**
   * kvroute takes no new requests: its drain delay is over (not merely readiness off — during the delay new
   * requests are served as usual).
   */
  readonly isDraining: () => boolean;
  readonly apiKey: ApiKeyCheck | undefined;
  readonly hooks: SessionHooks;
  /** Monotonic milliseconds. */
  readonly now: () => number;
  /**
   * The pre-route hook (per-user RPM/TPM admission and tenant token budgets, from `src/usage`); absent without Redis
   * and without a configured tenant budget, and then the `user` header is ignored (AIBrix's noop).
   */
  readonly admission?: PreRouteHook | undefined;
  /** Memory budget shared by every stream's buffered request body; absent: unbounded (tests of other concerns). */
  readonly bodyBudget?: BodyBudget | undefined;
  /**
   * For a body arriving in chunks (STREAMED, FULL_DUPLEX_STREAMED) to `path`: a stream that reads the prompt and
   * hashes its blocks chunk by chunk, or undefined (the prompt is then prepared after the body, as always).
   */
  readonly streamPrompt?: ((path: string) => PromptStream | undefined) | undefined;
  /**
   * The pod serving `model` at `address` (`ip:port`), ready or not, for the gateway's served-endpoint report;
   * undefined when there is none. Absent: a report naming another address than the pick's is `unknown`.
   */
  readonly servedPod?: ((model: string, address: string) => Pod | undefined) | undefined;
  /** OpenTelemetry tracing (`--otlp-endpoint`); absent when off, and then no request records anything for it. */
  readonly tracer?: RequestTracer | undefined;
}
