/**
 * Records the request-level metrics users of a router look for (`kvroute_routed_requests_total`, time to first
 * token, end-to-end duration, time per output token, token counts, prefix hits) from what the session already
 * knows: the pick at the decision, the request record at the end. Apart from `request-reporter.ts` so the request
 * log line and these series change independently. Only bounded label values are recorded: models through the
 * model limiter, endpoints through the pod label (a departed pod becomes `departed`, its series are removed).
 *
 * @module
 */
import { endpointName } from "../cluster";
import type { Metrics } from "../observability";
import type { RequestRecord } from "./request-record";
import type { RoutedPick } from "./session-deps";

/** What the reporter calls. */
export interface RequestMetricsRecorder {
  /** A request for `model` was routed by `pick`; `strategy` is its (already bounded) strategy label. */
  routed(model: string, pick: RoutedPick, strategy: string): void;
  /** A request finished. */
  finished(r: RequestRecord): void;
}

/** Create the recorder writing into `metrics`. */
export function createRequestMetricsRecorder(metrics: Metrics): RequestMetricsRecorder {
  return {
    routed(model, pick, strategy) {
      const modelLabel = metrics.modelLabel.admit(model);
      metrics.routedRequests.inc({
        model: modelLabel,
        pod: metrics.podLabel.admit(endpointName(pick.pod)),
        strategy,
      });
      const prefix = pick.prefix;
      if (prefix === undefined) return;
      const labels = { model: modelLabel };
      metrics.prefixLookupBlocks.inc(labels, prefix.lookupBlocks);
      // Counted even at 0, so the hit ratio's numerator series exists from the first lookup on.
      metrics.prefixHitBlocks.inc(labels, prefix.hitBlocks);
    },
    finished(r) {
      // Only answers the engine gave in full: an error's or a cancelled stream's timing says nothing of serving.
      if (r.outcome !== "success" || r.endpoint === undefined || r.model === undefined) return;
      const labels = { model: metrics.modelLabel.admit(r.model), pod: metrics.podLabel.admit(r.endpoint) };
      metrics.requestDuration.observe(labels, r.totalMs / 1000);
      if (r.promptTokens !== undefined) metrics.promptTokens.observe(labels, r.promptTokens);
      if (r.completionTokens !== undefined) metrics.completionTokens.observe(labels, r.completionTokens);
      const first = r.firstTokenMs;
      if (first === undefined) return;
      metrics.timeToFirstToken.observe(labels, first / 1000);
      const tokens = r.completionTokens;
      // The first token's time is TTFT; the rest share what came after it.
      if (tokens !== undefined && tokens >= 2)
        metrics.timePerOutputToken.observe(labels, (r.totalMs - first) / 1000 / (tokens - 1));
    },
  };
}
