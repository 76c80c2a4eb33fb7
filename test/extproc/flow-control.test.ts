/**
 * Flow control end to end through the real gRPC server, on a one-pod fleet whose engine metrics are kept in memory
 * (never scraped). With `--flow-pod-capacity-tokens 1` the pod holds one request in flight: its metrics are missing,
 * so every check is `unknown-*`, decided on kvroute's own in-flight work. A second request waits in the flow queue
 * and is dispatched — band first, then tenants in turn — as picks are released; it leaves at once when its stream
 * is cancelled; a full queue, a sheddable request and a TTL each answer with `x-kvroute-dropped-reason`. With fresh
 * metrics showing room the request goes straight on; with `--flow-control=false` nothing is held back.
 */
import type { ProcessingResponse } from "../../src/extproc/messages";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  immediateReply,
  pod,
  responseBody,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";
import type { ExtProcStream, Harness } from "./harness";
import { metricValue } from "./harness-probes";
import { until } from "./slo-fleet";

const PODS = [pod("p1", "10.0.0.1", ["m1"])];
const P1 = PODS[0]!.address;
/** One request in flight fills the pod (its prompt is more than 0.8 of a 1-token capacity). */
const ONE_AT_A_TIME = ["--flow-pod-capacity-tokens", "1", "--tenant-header", "x-tenant"];
const USAGE = '{"usage":{"prompt_tokens":10,"completion_tokens":4,"total_tokens":14}}';

const target = (r: ProcessingResponse | undefined): string | undefined => setHeaders(r)["target-pod"];
/** An immediate reply's status, headers and OpenAI error envelope. */
const reply = (r: ProcessingResponse | undefined) => {
  const { status, headers: hs, body: b } = immediateReply(r);
  return { status, headers: hs, error: (b as { error: Record<string, unknown> } | undefined)?.error ?? {} };
};

describe("flow control through the server", () => {
  const harnesses: Harness[] = [];
  const streams: ExtProcStream[] = [];
  afterAll(async () => {
    for (const s of streams) s.cancel();
    for (const h of harnesses) await h.close();
  });

  async function start(flags: string[]): Promise<Harness> {
    const h = await startHarness(PODS, flags);
    harnesses.push(h);
    return h;
  }
  /** Open a stream and send a chat request; resolves once the body is sent (the decision may still be pending). */
  async function send(h: Harness, extra: Record<string, string> = {}): Promise<ExtProcStream> {
    const s = h.client.open();
    streams.push(s);
    await s.exchange(headers({ ...CHAT_HEADERS, ...extra }));
    s.send(body(chatBody("m1", "a prompt long enough to count several tokens")));
    return s;
  }
  /** The response ends: the pick is released. */
  async function finish(s: ExtProcStream): Promise<void> {
    await s.exchange(responseHeaders(200));
    await s.exchange(responseBody(USAGE, true));
  }
  const queued = (h: Harness): number => h.server.flowControl?.queued("m1") ?? -1;

  describe("one request at a time, metrics unknown", () => {
    let h: Harness;
    beforeAll(async () => {
      h = await start(ONE_AT_A_TIME);
    });

    it("routes the first at once, queues the second (counted unknown) and dispatches it on release", async () => {
      const s1 = await send(h);
      expect(target(await s1.next())).toBe(P1);
      expect(await metricValue(h, "kvroute_flow_saturation_checks_total", { result: "unknown-free" })).toBe(
        1,
      );
      const s2 = await send(h);
      await until(() => queued(h) === 1);
      expect(s2.pending()).toBe(0);
      expect(h.server.load.totalRequests()).toBe(1);
      expect(
        await metricValue(h, "kvroute_flow_saturation_checks_total", { result: "unknown-saturated" }),
      ).toBeGreaterThanOrEqual(1);
      expect(await metricValue(h, "kvroute_flow_saturation_checks_total", { result: "saturated" })).toBe(0);
      expect(await metricValue(h, "kvroute_flow_queued_requests", { model: "m1", band: "0" })).toBe(1);
      await finish(s1);
      expect(target(await s2.next())).toBe(P1);
      expect(queued(h)).toBe(0);
      expect(await metricValue(h, "kvroute_flow_dispatched_total", { model: "m1", band: "0" })).toBe(1);
      await finish(s2);
      await until(() => h.server.load.totalRequests() === 0);
    });

    it("serves bands in strict priority order", async () => {
      const busy = await send(h);
      expect(target(await busy.next())).toBe(P1);
      const low = await send(h, { "x-kvroute-priority": "0" });
      const high = await send(h, { "x-kvroute-priority": "5" });
      await until(() => queued(h) === 2);
      await finish(busy);
      expect(target(await high.next())).toBe(P1);
      expect(low.pending()).toBe(0);
      expect(queued(h)).toBe(1);
      await finish(high);
      expect(target(await low.next())).toBe(P1);
      await finish(low);
      await until(() => h.server.load.totalRequests() === 0);
    });

    it("takes tenants of a band in turn, not in arrival order", async () => {
      const busy = await send(h);
      await busy.next();
      const a1 = await send(h, { "x-tenant": "a" });
      const a2 = await send(h, { "x-tenant": "a" });
      const b1 = await send(h, { "x-tenant": "b" });
      await until(() => queued(h) === 3);
      await finish(busy);
      expect(target(await a1.next())).toBe(P1);
      await finish(a1);
      // Tenant b's only request goes before tenant a's second, although it arrived later.
      expect(target(await b1.next())).toBe(P1);
      expect(a2.pending()).toBe(0);
      await finish(b1);
      expect(target(await a2.next())).toBe(P1);
      await finish(a2);
      await until(() => h.server.load.totalRequests() === 0);
    });

    it("a cancelled stream leaves the queue at once: nothing picked or reserved for it", async () => {
      const busy = await send(h);
      await busy.next();
      const waiting = await send(h);
      await until(() => queued(h) === 1);
      const dispatched = await metricValue(h, "kvroute_flow_dispatched_total", { model: "m1", band: "0" });
      waiting.cancel();
      await until(() => queued(h) === 0);
      expect(await metricValue(h, "kvroute_flow_cancelled_total", { model: "m1" })).toBe(1);
      expect(h.server.load.totalRequests()).toBe(1);
      await finish(busy);
      await until(() => h.server.load.totalRequests() === 0);
      expect(await metricValue(h, "kvroute_flow_dispatched_total", { model: "m1", band: "0" })).toBe(
        dispatched,
      );
    });

    it("stale figures that say idle are not believed: the pod is unknown, judged on in-flight work", async () => {
      // An engine that last said "idle" long ago (older than --metrics-stale-after-ms, 2 s by default).
      h.server.engineMetrics.record(PODS[0]!.key, {
        scrapedAtMs: performance.now() - 60_000,
        requestsWaiting: 0,
        kvCacheUsage: 0,
        byModel: new Map(),
      });
      const checks = (result: string): Promise<number> =>
        metricValue(h, "kvroute_flow_saturation_checks_total", { result });
      const free = await checks("free");
      const unknownFree = await checks("unknown-free");
      const busy = await send(h);
      expect(target(await busy.next())).toBe(P1);
      // Admitted on in-flight work (nothing yet), not on the stale "idle".
      expect(await checks("unknown-free")).toBe(unknownFree + 1);
      const waiting = await send(h);
      await until(() => queued(h) === 1);
      expect(await checks("free")).toBe(free);
      await finish(busy);
      expect(target(await waiting.next())).toBe(P1);
      await finish(waiting);
      await until(() => h.server.load.totalRequests() === 0);
    });

    it("a malformed priority is a 400 naming the header, whatever the load", async () => {
      const s = await send(h, { "x-kvroute-priority": "urgent" });
      const r = await s.next();
      expect(reply(r).status).toBe(400);
      expect(reply(r).error["message"]).toContain("x-kvroute-priority");
      expect(queued(h)).toBe(0);
    });
  });

  it("a full queue answers 429 queue-full; a sheddable request is shed (503) to make room", async () => {
    const h = await start([...ONE_AT_A_TIME, "--flow-max-queued", "1"]);
    const busy = await send(h);
    await busy.next();
    const sheddable = await send(h, { "x-kvroute-priority": "-1" });
    await until(() => queued(h) === 1);
    // A normal request arrives at the full queue: the sheddable one makes room.
    const normal = await send(h);
    const shed = await sheddable.next();
    expect(reply(shed).status).toBe(503);
    expect(reply(shed).headers).toMatchObject({ "x-kvroute-dropped-reason": "shed" });
    expect(reply(shed).error).toMatchObject({ type: "overloaded_error", code: "service_unavailable" });
    expect(queued(h)).toBe(1);
    // Nothing sheddable left: the next is refused.
    const refused = await (await send(h)).next();
    expect(reply(refused).status).toBe(429);
    expect(reply(refused).headers).toMatchObject({ "x-kvroute-dropped-reason": "queue-full" });
    expect(reply(refused).error).toMatchObject({ type: "rate_limit_error", code: "rate_limit_exceeded" });
    expect(await metricValue(h, "kvroute_flow_dropped_total", { reason: "shed", band: "-1" })).toBe(1);
    expect(await metricValue(h, "kvroute_flow_dropped_total", { reason: "queue-full", band: "0" })).toBe(1);
    // Nothing accepted is lost: the queued one is still dispatched.
    await finish(busy);
    expect(target(await normal.next())).toBe(P1);
  });

  it("a request that waits its TTL is dropped with 503 ttl", async () => {
    const h = await start([...ONE_AT_A_TIME, "--flow-ttl-ms", "20"]);
    const busy = await send(h);
    await busy.next();
    const r = await (await send(h)).next();
    expect(reply(r).status).toBe(503);
    expect(reply(r).headers).toMatchObject({ "x-kvroute-dropped-reason": "ttl" });
    expect(reply(r).error["message"]).toContain("had no room within 20 ms");
    expect(queued(h)).toBe(0);
    expect(await metricValue(h, "kvroute_flow_dropped_total", { reason: "ttl" })).toBe(1);
    expect(h.server.load.totalRequests()).toBe(1);
  });

  it("fresh metrics with room: straight on; measured saturation holds a request until a re-check finds room", async () => {
    // Metrics stay fresh for the whole test on a loaded machine: the verdicts here are measured ones.
    const h = await start(["--flow-recheck-interval-ms", "5", "--metrics-stale-after-ms", "600000"]);
    const key = PODS[0]!.key;
    const record = (waiting: number): void =>
      h.server.engineMetrics.record(key, {
        scrapedAtMs: performance.now(),
        requestsWaiting: waiting,
        kvCacheUsage: 0.1,
        byModel: new Map(),
      });
    record(0);
    const fast = await send(h);
    expect(target(await fast.next())).toBe(P1);
    expect(await metricValue(h, "kvroute_flow_saturation_checks_total", { result: "free" })).toBe(1);
    record(6);
    const held = await send(h);
    await until(() => queued(h) === 1);
    expect(
      await metricValue(h, "kvroute_flow_saturation_checks_total", { result: "saturated" }),
    ).toBeGreaterThan(0);
    // The engine catches up; no release happens: the periodic re-check dispatches it.
    record(0);
    expect(target(await held.next())).toBe(P1);
    expect(h.server.load.totalRequests()).toBe(2);
  });

  describe("room reserved for the top band (one running seat, one in-flight request reserved)", () => {
    const RESERVE = ["--flow-pod-max-running", "1", "--flow-reserved-seats", "1"];

    it("a sheddable request waits while an interactive one is dispatched into the reserved room", async () => {
      const h = await start(RESERVE);
      // An interactive request makes priority 1 the model's top band.
      const first = await send(h, { "x-kvroute-priority": "1" });
      expect(target(await first.next())).toBe(P1);
      await finish(first);
      await until(() => h.server.load.totalRequests() === 0);
      // Seats 1 + 1 = 2 for the top band; a lower band stops at 1.
      const low1 = await send(h, { "x-kvroute-priority": "-1" });
      expect(target(await low1.next())).toBe(P1);
      const low2 = await send(h, { "x-kvroute-priority": "-1" });
      await until(() => queued(h) === 1);
      expect(low2.pending()).toBe(0);
      expect(await metricValue(h, "kvroute_flow_saturation_checks_total", { result: "reserved" })).toBe(1);
      // The interactive request goes past the waiting sheddable one, to the pod, at once.
      const interactive = await send(h, { "x-kvroute-priority": "1" });
      expect(target(await interactive.next())).toBe(P1);
      expect(h.server.load.totalRequests()).toBe(2);
      expect(queued(h)).toBe(1);
      expect(await metricValue(h, "kvroute_flow_dispatched_total", { model: "m1", band: "1" })).toBe(1);
      // The sheddable one's own release leaves the pod at the lower band's cut: it still waits.
      await finish(low1);
      await until(() => h.server.load.totalRequests() === 1);
      expect(queued(h)).toBe(1);
      expect(low2.pending()).toBe(0);
      await finish(interactive);
      expect(target(await low2.next())).toBe(P1);
      expect(await metricValue(h, "kvroute_flow_dispatched_total", { model: "m1", band: "-1" })).toBe(1);
      await finish(low2);
      await until(() => h.server.load.totalRequests() === 0);
    });

    it("one band alone fills the seats and the one beyond, as without a reserve", async () => {
      const h = await start(RESERVE);
      const a = await send(h);
      const b = await send(h);
      expect(target(await a.next())).toBe(P1);
      expect(target(await b.next())).toBe(P1);
      const c = await send(h);
      await until(() => queued(h) === 1);
      expect(await metricValue(h, "kvroute_flow_saturation_checks_total", { result: "reserved" })).toBe(0);
      await finish(a);
      expect(target(await c.next())).toBe(P1);
      await finish(b);
      await finish(c);
      await until(() => h.server.load.totalRequests() === 0);
    });
  });

  it("an admitted request goes to a pod with room, not to the full pod its strategy prefers", async () => {
    // least-kv-cache always prefers p1 (lower KV usage); one running seat each, so 2 in flight fill a pod.
    const two = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];
    const h = await startHarness(two, [
      ...["--routing-algorithm", "least-kv-cache", "--flow-pod-max-running", "1"],
      ...["--metrics-stale-after-ms", "600000"],
    ]);
    harnesses.push(h);
    const record = (i: number, kvCacheUsage: number): void =>
      h.server.engineMetrics.record(two[i]!.key, {
        scrapedAtMs: performance.now(),
        requestsWaiting: 0,
        kvCacheUsage,
        byModel: new Map(),
      });
    record(0, 0.1);
    record(1, 0.5);
    const first = await send(h);
    const second = await send(h);
    expect(target(await first.next())).toBe(two[0]!.address);
    expect(target(await second.next())).toBe(two[0]!.address);
    // p1 is full (seats + 1 in flight), p2 has room: the model is free, and the request belongs on p2. Without the
    // filter the strategy, given both pods, sent it to p1.
    const third = await send(h);
    expect(target(await third.next())).toBe(two[1]!.address);
    expect(queued(h)).toBe(0);
    // Once p1 has room again, the strategy's own preference holds.
    await finish(first);
    await until(() => h.server.load.totalRequests() === 2);
    const fourth = await send(h);
    expect(target(await fourth.next())).toBe(two[0]!.address);
    for (const s of [second, third, fourth]) await finish(s);
    await until(() => h.server.load.totalRequests() === 0);
  });

  it("a prefix strategy still sees every pod: it weighs the cached blocks on a full pod against load itself", async () => {
    const two = [pod("p1", "10.0.0.1", ["m1"]), pod("p2", "10.0.0.2", ["m1"])];
    const h = await startHarness(two, ["--routing-algorithm", "prefix-cache", "--flow-pod-max-running", "1"]);
    harnesses.push(h);
    const first = await send(h);
    const cached = target(await first.next());
    // The same prompt again: its blocks are on the first pod (recorded at the pick), which now has 2 in flight.
    const second = await send(h);
    expect(target(await second.next())).toBe(cached);
    const third = await send(h);
    expect(target(await third.next())).toBe(cached);
    for (const s of [first, second, third]) await finish(s);
    await until(() => h.server.load.totalRequests() === 0);
  });

  it("--flow-control=false: nothing is held back, and there is no flow controller", async () => {
    const h = await start([...ONE_AT_A_TIME, "--flow-control=false"]);
    expect(h.server.flowControl).toBeUndefined();
    const s1 = await send(h);
    const s2 = await send(h);
    expect(target(await s1.next())).toBe(P1);
    expect(target(await s2.next())).toBe(P1);
    expect(h.server.load.totalRequests()).toBe(2);
    expect(await metricValue(h, "kvroute_flow_saturation_checks_total")).toBe(0);
  });
});
