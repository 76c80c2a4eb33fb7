/**
 * A strategy whose `onRouted` or finisher throws (a bug) must not leak the pod's reservation: the request is
 * routed all the same, the error is reported once, and releasing the pick gives the slot back exactly once. The
 * pick's first-token signal reaches every finisher's `firstToken` once, before the release only, and keeps the slot.
 */
import { z } from "zod";
import type { Outcome, Pick, RouteFinisher, Strategy, StrategyFactory } from "../../src/routing/framework";
import { createStrategyRegistry } from "../../src/routing/registry";
import { fleetDirector, routeInput } from "../support/director-fixture";
import { makeFleet } from "./pods";

/** A strategy scoring every pod 1, with the given `onRouted`. */
function factory(type: string, onRouted: NonNullable<Strategy["onRouted"]>): StrategyFactory<object> {
  return {
    type,
    paramsSchema: z.strictObject({}),
    create: () =>
      ({
        type,
        reads: [],
        score: (_c, pods) => ({ t: "scores", scores: pods.map(() => 1) }),
        onRouted,
      }) satisfies Strategy,
  };
}

function setup(spec: string, strategies: StrategyFactory<object>[]) {
  const fleet = makeFleet(1);
  const registry = createStrategyRegistry();
  for (const f of strategies) registry.register(f);
  const hookErrors: [string, string, unknown][] = [];
  const released: Outcome[] = [];
  const director = fleetDirector(fleet, {
    registry,
    defaultStrategy: spec,
    observer: {
      onHookError: (strategy, hook, err) => hookErrors.push([strategy, hook, err]),
      onRelease: (_pod, outcome) => released.push(outcome),
    },
  });
  const route = (): Pick => director.route(routeInput());
  return { fleet, route, hookErrors, released };
}

describe("director: strategy hooks that throw", () => {
  it("onRouted throwing: the request is still routed and its reservation returns to 0 on release", () => {
    const finished: Outcome[] = [];
    const keeper: RouteFinisher = (o) => finished.push(o);
    const { fleet, route, hookErrors, released } = setup("throws-on-routed,keeps-books", [
      factory("throws-on-routed", () => {
        throw new Error("bug in onRouted");
      }),
      factory("keeps-books", () => keeper),
    ]);
    const pick = route();
    expect(pick.t).toBe("routed");
    if (pick.t === "none") return;
    const podKey = pick.pod.key;
    expect(fleet.load.get(podKey).requests).toBe(1);
    expect(hookErrors.map(([s, h]) => [s, h])).toEqual([["throws-on-routed", "on-routed"]]);
    pick.release({ kind: "success" });
    pick.release({ kind: "success" });
    expect(fleet.load.get(podKey).requests).toBe(0);
    expect(fleet.load.totalRequests()).toBe(0);
    // The other strategy's bookkeeping ran, once; the observer saw one release.
    expect(finished).toHaveLength(1);
    expect(released).toHaveLength(1);
  });

  it("a finisher throwing: the load is still released once and the other finishers still run", () => {
    const finished: Outcome[] = [];
    const { fleet, route, hookErrors, released } = setup("throws-on-finish,keeps-books", [
      factory("throws-on-finish", () => () => {
        throw new Error("bug in finisher");
      }),
      factory("keeps-books", () => (o: Outcome) => finished.push(o)),
    ]);
    const pick = route();
    if (pick.t === "none") throw new Error("expected a pick");
    pick.release({ kind: "upstream-error", status: 502 });
    expect(fleet.load.totalRequests()).toBe(0);
    expect(hookErrors.map(([s, h]) => [s, h])).toEqual([["throws-on-finish", "finish"]]);
    expect(finished).toEqual([{ kind: "upstream-error", status: 502 }]);
    expect(released).toHaveLength(1);
  });

  it("first token: each finisher hears it once and only before the release; the slot stays held", () => {
    const heard: string[] = [];
    const finisher = (name: string): RouteFinisher =>
      Object.assign(() => heard.push(`${name}:finish`), { firstToken: () => heard.push(`${name}:first`) });
    const { fleet, route, hookErrors } = setup("throws-on-first,keeps-books,no-hook", [
      factory("throws-on-first", () =>
        Object.assign(() => undefined, {
          firstToken: () => {
            throw new Error("bug in firstToken");
          },
        }),
      ),
      factory("keeps-books", () => finisher("books")),
      factory("no-hook", () => () => heard.push("plain:finish")),
    ]);
    const pick = route();
    if (pick.t === "none") throw new Error("expected a pick");
    pick.firstToken?.();
    pick.firstToken?.();
    // The request still decodes: its slot is held until the release.
    expect(fleet.load.get(pick.pod.key).requests).toBe(1);
    expect(hookErrors.map(([s, h]) => [s, h])).toEqual([["throws-on-first", "first-token"]]);
    pick.release({ kind: "success" });
    expect(heard).toEqual(["books:first", "books:finish", "plain:finish"]);
    // A second pick released before its first token: the late signal reaches nobody.
    const late = route();
    if (late.t === "none") throw new Error("expected a pick");
    late.release({ kind: "cancelled" });
    late.firstToken?.();
    expect(heard.filter((h) => h === "books:first")).toHaveLength(1);
  });
});
