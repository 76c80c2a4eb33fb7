/**
 * The director applies passive health to every decision: ejected pods are removed before any strategy (or the
 * fallback) sees the candidates, a probing pod's pick is its trial, and every release reports its outcome.
 */
import { createOutlierDetector } from "../../src/cluster/health";
import type { OutlierDetector } from "../../src/cluster/health";
import type { Pick } from "../../src/routing/framework";
import { fleetDirector, routeInput } from "../support/director-fixture";
import { makeFleet, makeRequest, MODEL, preload, seededRandom } from "./pods";

function setup() {
  const fleet = makeFleet(4);
  const clock = { t: 0 };
  const health: OutlierDetector = createOutlierDetector({
    cluster: fleet.store,
    now: () => clock.t,
    consecutiveFailures: 2,
    failureRatio: 0,
    minRequests: 1,
    windowMs: 1000,
    baseEjectionMs: 1000,
    maxEjectionMs: 10_000,
    maxEjectedPercent: 50,
  });
  const director = fleetDirector(fleet, { random: seededRandom(3), health });
  const route = (strategy: string): Extract<Pick, { t: "routed" | "fallback" }> => {
    const pick = director.route(
      routeInput({
        request: makeRequest(MODEL, 10),
        headers: { "x-session-id": "abc" },
        strategyHeader: strategy,
      }),
    );
    if (pick.t === "none") throw new Error("expected a pick");
    return pick;
  };
  return { fleet, clock, health, route };
}

const CONNECT_FAILURE = { kind: "upstream-error", status: 503, source: "envoy-connect-failure" } as const;

describe("director with passive health", () => {
  it.each(["least-request", "random", "session-affinity", "power-of-two", "least-kv-cache", "throughput"])(
    "%s never picks an ejected pod, even as a fallback",
    (strategy) => {
      const { fleet, route } = setup();
      const target = fleet.pods[0]!;
      // least-request would always pick pod 0 (it has the fewest in flight).
      preload(fleet.load, fleet.pods, [0, 5, 5, 5]);
      const first = route("least-request");
      expect(first.pod.key).toBe(target.key);
      first.release(CONNECT_FAILURE);
      route("least-request").release(CONNECT_FAILURE);
      for (let i = 0; i < 30; i++) {
        const pick = route(strategy);
        expect(pick.pod.key).not.toBe(target.key);
        pick.release({ kind: "success", status: 200, source: "pod" });
      }
    },
  );

  it("makes the probing pod's next pick its trial and returns it on success", () => {
    const { fleet, clock, health, route } = setup();
    const target = fleet.pods[0]!;
    preload(fleet.load, fleet.pods, [0, 5, 5, 5]);
    route("least-request").release(CONNECT_FAILURE);
    route("least-request").release(CONNECT_FAILURE);
    expect(health.details(target.key)?.state).toBe("ejected");
    clock.t += 1000;
    const trial = route("least-request");
    expect(trial.pod.key).toBe(target.key);
    // While the trial runs, nothing else goes there.
    const other = route("least-request");
    expect(other.pod.key).not.toBe(target.key);
    trial.release({ kind: "success", status: 200, source: "pod" });
    expect(health.details(target.key)?.state).toBe("healthy");
    other.release({ kind: "success", status: 200, source: "pod" });
  });

  it("offers neither an ejected nor a probing pod as a fallback endpoint", () => {
    const { fleet, clock, health, route } = setup();
    const target = fleet.pods[0]!;
    preload(fleet.load, fleet.pods, [0, 5, 5, 5]);
    route("least-request").release(CONNECT_FAILURE);
    route("least-request").release(CONNECT_FAILURE);
    expect(health.details(target.key)?.state).toBe("ejected");
    const others = fleet.pods.slice(1).map((p) => p.key);
    const whileEjected = route("least-request");
    expect([whileEjected.pod.key, ...whileEjected.fallbacks.map((p) => p.key)].sort()).toEqual(others);
    whileEjected.release({ kind: "success", status: 200, source: "pod" });
    // Probing, with its trial slot free, but the busiest: another pod is picked, and the probing one (which would
    // be the least loaded fallback without health) is not offered, since a retry there would count no trial.
    clock.t += 1000;
    preload(fleet.load, fleet.pods, [10]);
    const pick = route("least-request");
    expect(pick.pod.key).not.toBe(target.key);
    expect(pick.fallbacks).toHaveLength(2);
    expect(pick.fallbacks.map((p) => p.key)).not.toContain(target.key);
    pick.release({ kind: "success", status: 200, source: "pod" });
  });
});
