/**
 * The sampling decision, taken when a request's headers are read: a valid `traceparent` decides by its sampled flag
 * whatever the ratio; without one (or with a malformed one) the ratio does. An unsampled request gets no timeline,
 * so it records nothing. Nothing here ends a span, so nothing is exported.
 */
import { performance } from "node:perf_hooks";
import { Writable } from "node:stream";
import { Registry } from "prom-client";
import { loadRequestTracer } from "../../src/observability";
import type { RequestTracer } from "../../src/observability";
import { createLogger } from "../../src/observability/logger";

const silent = createLogger("error", new Writable({ write: (_c, _e, cb) => cb() }));
const TRACE = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT = "00f067aa0ba902b7";

async function tracer(sampleRatio: number, random: () => number): Promise<RequestTracer> {
  return loadRequestTracer({
    // loopback-check: not-dialled (no span is ended in this file, so nothing is exported)
    endpoint: "http://127.0.0.1:9/v1/traces",
    sampleRatio,
    serviceName: "kvroute",
    registry: new Registry(),
    log: silent,
    now: () => performance.now(),
    random,
  });
}

const headersOf = (h: Record<string, string>) => ({ get: (name: string) => h[name] });

describe("trace sampling at request headers", () => {
  it("follows a valid traceparent's sampled flag whatever the ratio", async () => {
    const never = await tracer(0, () => 0.99);
    expect(never.begin("a", 0, headersOf({ traceparent: `00-${TRACE}-${PARENT}-01` }))).toBeDefined();
    const always = await tracer(1, () => 0);
    expect(always.begin("b", 0, headersOf({ traceparent: `00-${TRACE}-${PARENT}-00` }))).toBeUndefined();
    await Promise.all([never.shutdown(100), always.shutdown(100)]);
  });

  it("decides a root (no or a malformed traceparent) by the ratio", async () => {
    let next = 0.2;
    const t = await tracer(0.25, () => next);
    expect(t.begin("a", 0, headersOf({}))).toBeDefined();
    next = 0.3;
    expect(t.begin("b", 0, headersOf({}))).toBeUndefined();
    expect(t.begin("c", 0, headersOf({ traceparent: "garbage" }))).toBeUndefined();
    next = 0.1;
    const kept = t.begin("d", 0, headersOf({ traceparent: `00-${TRACE}-${"x".repeat(200)}-01` }));
    // Too long to be a traceparent: a new trace, and the header is not kept either.
    expect(kept?.traceparent).toBeUndefined();
    await t.shutdown(100);
  });
});
