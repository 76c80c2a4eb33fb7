/**
 * Turns session and stream events into metrics and the one log line per finished request. Small and named, so
 * the state machine knows nothing of prom-client or pino.
 *
 * @module
 */
import type { Code, RouteError } from "../errors";
import { httpStatusOf } from "../extproc/immediate-response";
import type { RequestRecord } from "../extproc/response-phase";
import type { ServiceHooks } from "../extproc/service";
import type { SessionHooks } from "../extproc/session";
import type { Logger } from "./logger";
import type { Metrics } from "./metrics";

/** Hooks for the session and the service. */
export interface RequestReporter {
  readonly sessionHooks: SessionHooks;
  readonly serviceHooks: ServiceHooks;
}

/** Create the reporter writing into `metrics` and `log`. */
export function createRequestReporter(metrics: Metrics, log: Logger): RequestReporter {
  const sessionHooks: SessionHooks = {
    onError(code: Code, requestId: string, err: RouteError) {
      metrics.errors.inc({ reason: code });
      const status = httpStatusOf(code);
      metrics.requests.inc({ model: "none", strategy: "none", status: String(status) });
      // The message is client-safe (never prompt text); the cause may be anything, so it stays at debug.
      log.info({ requestId, status, code, error: err.message }, "request rejected");
      if (err.cause !== undefined)
        log.debug({ requestId, cause: String(err.cause) }, "request rejected: cause");
    },
    onDecision(strategy: string, seconds: number) {
      metrics.decisionSeconds.observe({ strategy: metrics.strategyLabel.admit(strategy) }, seconds);
    },
    onFinished(r: RequestRecord) {
      metrics.completions.inc({ outcome: r.outcome });
      metrics.requests.inc({
        model: r.model === undefined ? "none" : metrics.modelLabel.admit(r.model),
        strategy: r.strategy === undefined ? "none" : metrics.strategyLabel.admit(r.strategy),
        status: String(r.status),
      });
      if (r.usageUnreadable) metrics.usageUnreadable.inc({ reason: r.usageUnreadable });
      log.info(
        {
          requestId: r.requestId,
          model: r.model,
          pod: r.pod,
          address: r.address,
          strategy: r.strategy,
          fallbackReason: r.fallbackReason,
          fallbackTo: r.fallbackTo,
          status: r.status,
          outcome: r.outcome,
          stream: r.stream,
          promptTokens: r.promptTokens,
          completionTokens: r.completionTokens,
          totalTokens: r.totalTokens,
          decisionMs: r.decisionMs,
          firstByteMs: r.firstByteMs,
          totalMs: r.totalMs,
        },
        "request finished",
      );
    },
  };
  const serviceHooks: ServiceHooks = {
    onMessage: (kind) => metrics.messages.inc({ kind }),
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
