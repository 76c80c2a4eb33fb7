/**
 * The ext_proc service as the server wires it: the request reporter (metrics and the request log line), the usage
 * runtime's hooks, the parse limits and every session option from `Config`. Holds nothing that needs closing.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import { podsForModel } from "./cluster";
import type { ClusterStore } from "./cluster";
import type { StatusRecorder } from "./admin";
import type { Config } from "./config";
import { createApiKeyCheck } from "./extproc";
import { createBodyBudget } from "./extproc";
import { createExtProcService } from "./extproc";
import type { ExtProcService } from "./extproc";
import type { SessionHooks } from "./extproc";
import type { Logger, RequestTracer } from "./observability";
import { createRequestReporter } from "./extproc";
import { endpointForPath, parseRequest } from "./request";
import type { ParseLimits } from "./request";
import { createStrategyLabeler } from "./routing";
import type { Runtimes } from "./server-runtimes";

/** Bound on a non-SSE response body buffered to read its usage. */
const MAX_RESPONSE_BUFFER_BYTES = 1 << 20;

/** What {@link createServerExtProc} needs. */
export interface ServerExtProcDeps {
  readonly config: Config;
  readonly cluster: ClusterStore;
  readonly log: Logger;
  readonly runtimes: Runtimes;
  /** True once a drain's delay is over: new requests get the 503 envelope. */
  readonly isRefusing: () => boolean;
  /** OpenTelemetry tracing, when on. */
  readonly tracer?: RequestTracer | undefined;
  /** The status page's recorder (decisions, finished requests); absent when the page is off. */
  readonly statusRecorder?: StatusRecorder;
}

/** Build the ext_proc service over the started back end. */
export function createServerExtProc(deps: ServerExtProcDeps): ExtProcService {
  const { config, cluster, log, runtimes } = deps;
  const { metrics, usage, kvCache } = runtimes;
  const { strategies, director } = runtimes.routing;
  const reporter = createRequestReporter(
    metrics,
    log,
    createStrategyLabeler(strategies.has, [director.defaultStrategy]),
    { logRequests: config.logRequests },
  );
  const sessionHooks: SessionHooks = {
    ...reporter.sessionHooks,
    onDecision(strategy, seconds, model) {
      reporter.sessionHooks.onDecision?.(strategy, seconds, model);
      usage.hooks.onDecision?.(strategy, seconds, model);
      deps.statusRecorder?.onDecision(strategy, seconds);
    },
    onFinished(record) {
      reporter.sessionHooks.onFinished?.(record);
      usage.hooks.onFinished?.(record);
      deps.statusRecorder?.onFinished(record);
    },
    onStrategyHeaderIgnored: () => metrics.requestBounds.inc({ bound: "strategy-header" }),
    onSubsetHint: (outcome) => metrics.subsetHints.inc({ outcome }),
    onServed: (outcome) => metrics.servedEndpoints.inc({ outcome }),
    onTestSelection: (outcome) => metrics.testSelections.inc({ outcome }),
  };
  const limits: ParseLimits = {
    maxBodyBytes: config.maxBodyBytes,
    shape: { maxItems: config.maxMessages, maxDepth: config.maxJsonDepth },
    onShapeBound: (bound) => metrics.requestBounds.inc({ bound }),
  };
  return createExtProcService(
    {
      options: {
        maxBodyBytes: config.maxBodyBytes,
        requestBodyMode: config.requestBodyMode,
        responseBodyMode: config.responseBodyMode,
        sendBodyWithoutWaitingForHeaderResponse: config.sendBodyWithoutWaitingForHeaderResponse,
        maxResponseBufferBytes: MAX_RESPONSE_BUFFER_BYTES,
        allowStrategyHeader: config.allowStrategyHeader,
        conformanceTestMode: config.conformanceTestMode,
      },
      router: runtimes.routing.router,
      parse: (path, body) => parseRequest(path, body, limits),
      endpointKnown: (path) => endpointForPath(path) !== undefined,
      isDraining: deps.isRefusing,
      apiKey: config.authBearerToken
        ? createApiKeyCheck(config.authBearerToken, () =>
            metrics.requestBounds.inc({ bound: "authorization-length" }),
          )
        : undefined,
      hooks: sessionHooks,
      now: () => performance.now(),
      admission: usage.budgets,
      bodyBudget: createBodyBudget(config.maxBufferedBytes, (bytes) => metrics.bufferedBodyBytes.set(bytes)),
      streamPrompt: (path) => kvCache.streamPrompt(path),
      servedPod: (model, address) =>
        podsForModel(cluster.snapshot(), model)?.find((p) => p.address === address),
      tracer: deps.tracer,
    },
    reporter.serviceHooks,
  );
}
