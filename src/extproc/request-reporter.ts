/**
 * Turns session and stream events into metrics and the one log line per finished request. Small and named, so
 * the state machine knows nothing of prom-client or pino. It lives here, beside the hooks it implements, because
 * observability is called and never calls: it knows nothing of sessions or of how a `Code` becomes a status.
 *
 * The per-request lines ("request finished", "request rejected") are written at info only with `--log-requests`;
 * otherwise at debug. Either way the line's object is built only when its level is enabled: at load the request
 * line is most of what a logger costs, and a production router's log is for what changes, not for each request.
 *
 * A request without an upstream status (it went away, or failed, before one came) is counted under
 * `status="<outcome>"` (`cancelled`, `reset`, `shutdown`, `error`, `upstream-error`): a closed set, never `"0"`.
 *
 * @module
 */
import type { Code, RouteError } from "../errors";
import { echoClientText, MAX_MESSAGE_BYTES } from "../client-echo";
import { clientMessageOf, httpStatusOf } from "./immediate-response";
import { createRequestMetricsRecorder } from "./request-metrics";
import type { RequestRecord } from "./request-record";
import type { ServiceHooks } from "./service";
import type { RefusedRequest, SessionHooks } from "./session";
import { roundMs } from "../observability";
import type { Logger, Metrics } from "../observability";

/** Distinct strategy specs whose metric label is remembered (exported for the test that goes past it). */
export const MAX_REMEMBERED_STRATEGY_SPECS = 256;

/** Options of {@link createRequestReporter}. */
export interface RequestReporterOptions {
  /** Per-request lines at info (`--log-requests`); otherwise at debug. */
  readonly logRequests: boolean;
}

/** Hooks for the session and the service. */
export interface RequestReporter {
  readonly sessionHooks: SessionHooks;
  readonly serviceHooks: ServiceHooks;
}

/**
 * Create the reporter writing into `metrics` and `log`. `strategyLabel` reduces a request's strategy spec (possibly
 * a client's header) to a bounded set of label values.
 */
export function createRequestReporter(
  metrics: Metrics,
  log: Logger,
  strategyLabel: (spec: string) => string,
  options: RequestReporterOptions,
): RequestReporter {
  const requestLevel = options.logRequests ? "info" : "debug";
  // Each routed request asks twice (decision, finish) and the answer never changes for a spec (the labeler is pure,
  // and a label the limiter admitted or refused stays so): remember the answers for the first specs seen. Specs can
  // come from a client's header, so the memory is bounded; past it, labels are computed each time.
  const labels = new Map<string, string>();
  const strategy = (spec: string): string => {
    const known = labels.get(spec);
    if (known !== undefined) return known;
    const label = metrics.strategyLabel.admit(strategyLabel(spec));
    if (labels.size < MAX_REMEMBERED_STRATEGY_SPECS) labels.set(spec, label);
    return label;
  };
  const recorder = createRequestMetricsRecorder(metrics);
  const sessionHooks: SessionHooks = {
    onError(code: Code, requestId: string, err: RouteError, about: RefusedRequest) {
      metrics.errors.inc({ reason: code });
      const status = httpStatusOf(code);
      // The model is a client's string: the limiter keeps it only when the fleet serves it (else `unknown`).
      metrics.requests.inc({
        model: about.model === undefined ? "none" : metrics.modelLabel.admit(about.model),
        strategy: about.strategy === undefined ? "none" : strategy(about.strategy),
        status: String(status),
      });
      // The message never holds prompt text and is bounded like the client's copy. The cause may be anything (a
      // JSON parser's error quotes the body), so it stays at debug, bounded too.
      if (log.isLevelEnabled(requestLevel))
        log[requestLevel]({ requestId, status, code, error: clientMessageOf(err) }, "request rejected");
      if (err.cause !== undefined)
        log.debug(
          { requestId, cause: echoClientText(String(err.cause), MAX_MESSAGE_BYTES) },
          "request rejected: cause",
        );
    },
    onDecision(spec: string, seconds: number) {
      metrics.decisionSeconds.observe({ strategy: strategy(spec) }, seconds);
    },
    onRouted: (model, pick) => recorder.routed(model, pick, strategy(pick.strategy)),
    onFinished(r: RequestRecord) {
      recorder.finished(r);
      metrics.completions.inc({ outcome: r.outcome });
      metrics.requests.inc({
        model: r.model === undefined ? "none" : metrics.modelLabel.admit(r.model),
        strategy: r.strategy === undefined ? "none" : strategy(r.strategy),
        status: r.status === undefined ? r.outcome : String(r.status),
      });
      if (r.usageUnreadable) metrics.usageUnreadable.inc({ reason: r.usageUnreadable });
      if (!log.isLevelEnabled(requestLevel)) return;
      log[requestLevel](
        {
          requestId: r.requestId,
          // Client input in InferencePool mode (any model is accepted there): quoted safely.
          model: r.model === undefined ? undefined : echoClientText(r.model),
          pod: r.pod,
          address: r.address,
          movedFrom: r.movedFrom,
          strategy: r.strategy,
          fallbackReason: r.fallbackReason,
          fallbackTo: r.fallbackTo,
          prefixHitBlocks: r.prefixHitBlocks,
          prefixLookupBlocks: r.prefixLookupBlocks,
          prefillPod: r.pd?.prefillPod,
          prefillMs: roundMs(r.pd?.prefillMs),
          pdSkipped: r.pd?.skipped,
          status: r.status,
          outcome: r.outcome,
          closeReason: r.closeReason,
          stream: r.stream,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
          totalTokens: r.totalTokens,
          decisionMs: roundMs(r.decisionMs),
          firstByteMs: roundMs(r.firstByteMs),
          totalMs: roundMs(r.totalMs),
        },
        "request finished",
      );
    },
  };
  const serviceHooks: ServiceHooks = {
    onMessage: (kind) => metrics.countMessage(kind),
    onProtocolError(reason, err) {
      metrics.errors.inc({ reason: `protocol:${reason}` });
      log.warn({ reason, error: err.message }, "ext_proc protocol error; stream ended with INVALID_ARGUMENT");
    },
    onStreamOpen: () => metrics.activeStreams.inc(),
    onStreamClose: () => metrics.activeStreams.dec(),
    onInternalError(err) {
      metrics.errors.inc({ reason: "internal" });
      log.error({ err }, "ext_proc stream failed");
    },
  };
  return { sessionHooks, serviceHooks };
}
