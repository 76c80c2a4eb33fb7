/**
 * The untraced path: with tracing off, or on for a request the sampler leaves out, the session hands the router no
 * phase marks (so the director marks nothing) and the request is routed and reported as usual.
 */
import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import type { Router, SessionDeps } from "../../src/extproc/session";
import type { RequestRecord } from "../../src/extproc/response-phase";
import { loadRequestTracer } from "../../src/observability";
import { createLogger } from "../../src/observability/logger";
import type { RoutePhases } from "../../src/routing";
import { makeFleet, MODEL } from "../routing/pods";
import { fleetDirector } from "../support/director-fixture";
import { sessionFactory, tickingClock } from "../support/session-fixture";
import { CHAT_HEADERS, body, chatBody, headers, responseBody, responseHeaders } from "./harness";

/** Route one request to its end; the phases the router was handed, and the finished records. */
async function routeOne(
  extra: Partial<SessionDeps>,
): Promise<{ phases: (RoutePhases | undefined)[]; finished: RequestRecord[] }> {
  const director = fleetDirector(makeFleet(2));
  const phases: (RoutePhases | undefined)[] = [];
  const router: Router = {
    routeWithPrompt: (input) => {
      phases.push(input.phases);
      return director.routeWithPrompt(input);
    },
  };
  const finished: RequestRecord[] = [];
  const s = sessionFactory({
    router,
    hooks: { onFinished: (r) => finished.push(r) },
    now: tickingClock(),
    extra,
  })();
  s.handle(headers(CHAT_HEADERS));
  await s.handle(body(chatBody(MODEL)));
  s.handle(responseHeaders(200));
  s.handle(responseBody("{}", true));
  s.close("client-ended");
  return { phases, finished };
}

describe("the untraced path", () => {
  it("tracing off: no phase marks reach the router", async () => {
    const { phases, finished } = await routeOne({});
    expect(phases).toEqual([undefined]);
    expect(finished).toHaveLength(1);
  });

  it("tracing on, request not sampled: no phase marks either", async () => {
    const tracer = await loadRequestTracer({
      // loopback-check: not-dialled (no request is sampled, so no span is ever exported)
      endpoint: "http://127.0.0.1:9/v1/traces",
      sampleRatio: 0,
      serviceName: "kvroute",
      registry: new Registry(),
      log: createLogger("error", new Writable({ write: (_c, _e, cb) => cb() })),
      now: () => performance.now(),
    });
    const { phases, finished } = await routeOne({ tracer });
    expect(phases).toEqual([undefined]);
    expect(finished).toHaveLength(1);
    await tracer.shutdown(100);
  });
});
