/**
 * What one finished request reports (`SessionHooks.onFinished`): the source of the request log line and of the
 * request metrics. A request that got past its headers reports exactly once, whether it was answered, failed, or
 * went away — before its decision too ({@link endedBeforeDecision}).
 *
 * @module
 */
import type { Outcome, PdStep } from "../routing";
import { outcomeOfEnd } from "./close-reason";
import type { SessionClose } from "./close-reason";

/** One finished request, for the request log line and metrics. Never contains prompt text. */
export interface RequestRecord {
  readonly requestId: string;
  readonly model: string | undefined;
  readonly pod: string | undefined;
  readonly address: string | undefined;
  /** The pod kvroute picked, when the gateway reported that another one (`pod`) served the request. */
  readonly movedFrom?: string | undefined;
  readonly strategy: string | undefined;
  readonly fallbackReason: string | undefined;
  /** What the decision fell back to when the strategy had no signal. */
  readonly fallbackTo: string | undefined;
  /**
   * The decision's prefix lookup for the picked pod (the pick's `prefix`): leading prompt blocks it holds, of
   * `prefixLookupBlocks` looked up. Both undefined when no strategy of the plan looked a prefix up.
   */
  readonly prefixHitBlocks?: number | undefined;
  readonly prefixLookupBlocks?: number | undefined;
  /** What the P/D step did (prefill pod and time, or why none), for a `pd` pick of a disaggregated model. */
  readonly pd?: PdStep | undefined;
  /** Final upstream HTTP status; undefined when no (valid) response status was seen. */
  readonly status: number | undefined;
  readonly outcome: Outcome["kind"];
  /**
   * How the ext_proc stream ended when its end ended the request (a downstream cancel, a reset, a shutdown);
   * undefined when the request completed, or kvroute ended it.
   */
  readonly closeReason?: SessionClose | undefined;
  readonly stream: boolean;
  readonly promptTokens: number | undefined;
  readonly completionTokens: number | undefined;
  readonly totalTokens: number | undefined;
  /** Why usage could not be read, when it could not. */
  readonly usageUnreadable: "malformed" | "truncated" | undefined;
  readonly decisionMs: number | undefined;
  /** Request headers to the first response body chunk. */
  readonly firstByteMs: number | undefined;
  /**
   * Request headers to the first SSE data event of the response (its first token); undefined for a response that is
   * not an event stream, whose first byte comes only after the whole generation.
   */
  readonly firstTokenMs: number | undefined;
  readonly totalMs: number;
  /** The user whose TPM window the usage is charged to (the `user` header's record), when limits apply. */
  readonly user: string | undefined;
  /** The endpoint that served (`pod`, with `/rank-<r>` for a data-parallel rank), as metric labels name it. */
  readonly endpoint: string | undefined;
}

/**
 * The record of a request whose stream ended (`why`) after its headers and before its decision was sent: nothing
 * was routed, so there is no pod, status or usage; the outcome is what the end implies (`cancelled` when the
 * client or Envoy went away).
 */
export function endedBeforeDecision(
  requestId: string,
  why: SessionClose,
  startedMs: number,
  nowMs: number,
): RequestRecord {
  return {
    requestId,
    model: undefined,
    pod: undefined,
    address: undefined,
    strategy: undefined,
    fallbackReason: undefined,
    fallbackTo: undefined,
    status: undefined,
    outcome: outcomeOfEnd(why),
    closeReason: why,
    stream: false,
    promptTokens: undefined,
    completionTokens: undefined,
    totalTokens: undefined,
    usageUnreadable: undefined,
    decisionMs: undefined,
    firstByteMs: undefined,
    firstTokenMs: undefined,
    totalMs: nowMs - startedMs,
    user: undefined,
    endpoint: undefined,
  };
}
