/**
 * `Pick.moveTo`, as the director builds it: when the gateway reports that another pod served the request, the
 * in-flight slot (requests and tokens), each strategy's per-pod bookkeeping and passive health's verdict follow
 * that pod; the release afterwards gives back exactly what was moved, once. A move after the release, or to the
 * pod the reservation is on, does nothing.
 */
import { z } from "zod";
import { createOutlierDetector } from "../../src/cluster/health";
import type { Pod } from "../../src/cluster/pod";
import { createDirector } from "../../src/routing/director";
import type { Outcome, Pick, RouteFinisher, Strategy, StrategyFactory } from "../../src/routing/framework";
import { createStrategyRegistry } from "../../src/routing/registry";
import { headersOf, makeFleet, makeRequest, preload } from "./pods";

const OK: Outcome = { kind: "success", status: 200, source: "pod" };
const POD_500: Outcome = { kind: "upstream-error", status: 500, source: "pod" };

/** A strategy preferring pod 0, whose finisher records where its bookkeeping is and what happened to it. */
function bookkeeping(events: string[], moveThrows = false): StrategyFactory<object> {
  return {
    type: "books",
    paramsSchema: z.strictObject({}),
    create: () =>
      ({
        type: "books",
        reads: [],
        score: (_c, pods) => ({ t: "scores", scores: pods.map((_, i) => (i === 0 ? 1 : 0)) }),
        onRouted(_ctx, pod) {
          let at = pod.name;
          events.push(`add ${at}`);
          const finish = (o: Outcome): void => void events.push(`finish ${at} ${o.kind}`);
          const moveTo = (to: Pod): void => {
            if (moveThrows) throw new Error("bug in moveTo");
            events.push(`move ${at} -> ${to.name}`);
            at = to.name;
          };
          return Object.assign(finish, { moveTo }) satisfies RouteFinisher;
        },
      }) satisfies Strategy,
  };
}

function setup(options: { moveThrows?: boolean } = {}) {
  const fleet = makeFleet(3);
  const events: string[] = [];
  const clock = { t: 0 };
  const health = createOutlierDetector({
    cluster: fleet.store,
    now: () => clock.t,
    consecutiveFailures: 1,
    failureRatio: 0,
    minRequests: 1,
    windowMs: 1000,
    baseEjectionMs: 1000,
    maxEjectionMs: 10_000,
    maxEjectedPercent: 100,
  });
  const registry = createStrategyRegistry();
  registry.register(bookkeeping(events, options.moveThrows));
  const hookErrors: string[] = [];
  const releasedOn: string[] = [];
  const director = createDirector({
    registry,
    cluster: () => fleet.store.snapshot(),
    load: fleet.load,
    defaultStrategy: "books",
    health,
    observer: {
      onHookError: (strategy, hook) => hookErrors.push(`${strategy} ${hook}`),
      onRelease: (pod) => releasedOn.push(pod.name),
    },
  });
  const route = (): Extract<Pick, { t: "routed" | "fallback" }> => {
    const pick = director.route({
      requestId: "r",
      request: makeRequest(undefined, 40),
      headers: headersOf(),
      strategyHeader: undefined,
    });
    if (pick.t === "none") throw new Error("expected a pick");
    return pick;
  };
  return { fleet, events, health, hookErrors, releasedOn, route };
}

describe("Pick.moveTo", () => {
  it("moves the slot with its tokens, the strategy's bookkeeping, and the release gives it back once", () => {
    const { fleet, events, releasedOn, route } = setup();
    const [p0, p1] = [fleet.pods[0]!, fleet.pods[1]!];
    const pick = route();
    expect(pick.pod).toBe(p0);
    expect(fleet.load.get(p0.key)).toEqual({ requests: 1, tokens: 40 });
    expect(pick.moveTo(p1)).toBe(true);
    expect(fleet.load.get(p0.key)).toEqual({ requests: 0, tokens: 0 });
    expect(fleet.load.get(p1.key)).toEqual({ requests: 1, tokens: 40 });
    pick.release(OK);
    pick.release(OK);
    expect(fleet.load.totalRequests()).toBe(0);
    expect(fleet.load.get(p1.key)).toEqual({ requests: 0, tokens: 0 });
    expect(events).toEqual([`add ${p0.name}`, `move ${p0.name} -> ${p1.name}`, `finish ${p1.name} success`]);
    expect(releasedOn).toEqual([p1.name]);
  });

  it("does nothing to the pod it is on, nor after the release", () => {
    const { fleet, events, route } = setup();
    const [p0, p1] = [fleet.pods[0]!, fleet.pods[1]!];
    const pick = route();
    expect(pick.moveTo(p0)).toBe(false);
    pick.release(OK);
    expect(pick.moveTo(p1)).toBe(false);
    expect(fleet.load.totalRequests()).toBe(0);
    expect(events).toEqual([`add ${p0.name}`, `finish ${p0.name} success`]);
  });

  it("moves again when a later report names a third pod (each move gives the previous slot back)", () => {
    const { fleet, route } = setup();
    const [p1, p2] = [fleet.pods[1]!, fleet.pods[2]!];
    preload(fleet.load, fleet.pods, [0, 2, 0]);
    const pick = route();
    pick.moveTo(p1);
    pick.moveTo(p2);
    expect(fleet.load.get(p1.key).requests).toBe(2);
    expect(fleet.load.get(p2.key).requests).toBe(1);
    pick.release(OK);
    expect(fleet.load.get(p2.key).requests).toBe(0);
    expect(fleet.load.totalRequests()).toBe(2);
  });

  it("passive health judges the pod that served, not the pick", () => {
    const { fleet, health, route } = setup();
    const [p0, p1] = [fleet.pods[0]!, fleet.pods[1]!];
    const pick = route();
    pick.moveTo(p1);
    // One failure ejects (consecutiveFailures 1): the served pod's 500 is its own.
    pick.release(POD_500);
    expect(health.details(p1.key)?.state).toBe("ejected");
    expect(health.details(p0.key)?.state ?? "healthy").not.toBe("ejected");
  });

  it("a strategy whose moveTo throws: counted, the slot still moves and is released once", () => {
    const { fleet, hookErrors, route } = setup({ moveThrows: true });
    const [p0, p1] = [fleet.pods[0]!, fleet.pods[1]!];
    const pick = route();
    expect(pick.moveTo(p1)).toBe(true);
    expect(hookErrors).toEqual(["books move"]);
    expect(fleet.load.get(p0.key).requests).toBe(0);
    expect(fleet.load.get(p1.key).requests).toBe(1);
    pick.release(OK);
    expect(fleet.load.totalRequests()).toBe(0);
  });
});
