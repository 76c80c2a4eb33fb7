import { Code, RouteError } from "../../src/errors";
import type { DirectorObserver } from "../../src/routing/director";
import type { Strategy, StrategyFactory } from "../../src/routing/framework";
import { createStrategyRegistry } from "../../src/routing/registry";
import { z } from "zod";
import { builtinRegistry, fleetDirector, routeInput } from "../support/director-fixture";
import { makeFleet, makeRequest, MODEL, preload, seededRandom, type Fleet } from "./pods";

function setup(options: { fleet?: Fleet; defaultStrategy?: string; observer?: DirectorObserver } = {}) {
  const fleet = options.fleet ?? makeFleet(4);
  const registry = builtinRegistry();
  const director = fleetDirector(fleet, {
    registry,
    defaultStrategy: options.defaultStrategy ?? "least-request",
    random: seededRandom(11),
    ...(options.observer ? { observer: options.observer } : {}),
  });
  const route = (strategyHeader?: string, model = MODEL, headers: Record<string, string> = {}) =>
    director.route(routeInput({ requestId: "r1", request: makeRequest(model, 25), headers, strategyHeader }));
  return { fleet, registry, director, route };
}

function caught(fn: () => unknown): RouteError {
  try {
    fn();
  } catch (err) {
    if (err instanceof RouteError) return err;
    throw err;
  }
  throw new Error("expected a RouteError");
}

describe("director", () => {
  it.each<[string | undefined, string]>([
    [undefined, "least-request"],
    ["", "least-request"],
    ["   ", "least-request"],
    ["session-affinity", "session-affinity"],
    [" random ", "random"],
    ["least-request:3,random", "least-request:3,random"],
  ])("uses the header %j over the default (echoes %j)", (header, expected) => {
    const pick = setup().route(header);
    expect(pick.t).not.toBe("none");
    expect(pick.strategy).toBe(expected);
  });

  it("adds the chosen strategies' response headers", () => {
    const { route } = setup();
    const sticky = route("session-affinity");
    if (sticky.t === "none") throw new Error("expected a pick");
    expect(sticky.responseHeaders).toEqual([
      ["x-session-id", Buffer.from(sticky.pod.address).toString("base64")],
    ]);
    const plain = route();
    expect(plain.t !== "none" && plain.responseHeaders).toEqual([]);
  });

  it.each([["nope"], ["least-request:0"], ["Random"], ["random,random"]])(
    "rejects the header %j with InvalidStrategy and x-error-routing",
    (header) => {
      const e = caught(() => setup().route(header));
      expect(e.code).toBe(Code.InvalidStrategy);
      expect(e.errorHeader).toEqual(["x-error-routing", "true"]);
      expect(e.message).toBe(`incorrect routing strategy ${header}`);
    },
  );

  it("checks the strategy before the model", () => {
    expect(caught(() => setup().route("nope", "no-such-model")).code).toBe(Code.InvalidStrategy);
  });

  it("rejects an unknown model with UnknownModel and x-error-no-model-backends", () => {
    const e = caught(() => setup().route(undefined, "gpt-9"));
    expect(e.code).toBe(Code.UnknownModel);
    expect(e.message).toBe("model gpt-9 does not exist");
    expect(e.param).toBe("model");
    expect(e.openaiCode).toBe("model_not_found");
    expect(e.errorHeader).toEqual(["x-error-no-model-backends", "gpt-9"]);
  });

  it("answers none when the model's pods are all unready, echoing the strategy", () => {
    const { route, fleet } = setup({ fleet: makeFleet(3, { unready: [0, 1, 2] }) });
    expect(route("random")).toEqual({ t: "none", code: Code.NoReadyPod, strategy: "random" });
    expect(fleet.load.totalRequests()).toBe(0);
  });

  it("routes only to pods serving the requested model", () => {
    const fleet = makeFleet(2, { model: "other" });
    const { route } = setup({ fleet });
    expect(caught(() => route(undefined, MODEL)).code).toBe(Code.UnknownModel);
    const pick = route(undefined, "other");
    expect(pick.t !== "none" && pick.pod.models).toEqual(["other"]);
  });

  it("reserves the prompt tokens synchronously and releases once, notifying the observer once", () => {
    const onRelease = jest.fn();
    const { route, fleet } = setup({ observer: { onRelease } });
    const pick = route();
    if (pick.t === "none") throw new Error("expected a pick");
    expect(fleet.load.get(pick.pod.key)).toEqual({ requests: 1, tokens: 25 });
    pick.release({ kind: "cancelled" });
    pick.release({ kind: "success" });
    expect(fleet.load.totalRequests()).toBe(0);
    expect(onRelease).toHaveBeenCalledTimes(1);
    expect(onRelease).toHaveBeenCalledWith(pick.pod, { kind: "cancelled" });
  });

  it("returns a counted fallback pick when every strategy abstains", () => {
    const onFallback = jest.fn();
    const { route } = setup({ observer: { onFallback } });
    const pick = route("session-affinity");
    expect(pick).toMatchObject({
      t: "fallback",
      reason: "no-session-key",
      strategy: "session-affinity",
      fallbackTo: "least-request",
    });
    expect(onFallback).toHaveBeenCalledWith("session-affinity", "no-session-key");
  });

  it("sends a fallback to the pod with the fewest in flight, reserving it like any pick", () => {
    const fleet = makeFleet(4);
    preload(fleet.load, fleet.pods, [2, 1, 3, 1]);
    const { route } = setup({ fleet });
    const first = route("least-kv-cache");
    expect(first).toMatchObject({ t: "fallback", reason: "metrics-missing", fallbackTo: "least-request" });
    expect([fleet.pods[1], fleet.pods[3]]).toContain(first.t === "fallback" && first.pod);
    const second = route("least-kv-cache");
    // The first fallback's reservation counts: the other 1-in-flight pod is now the only least-loaded one.
    expect(second.t === "fallback" && second.pod).toBe(
      first.t === "fallback" && first.pod === fleet.pods[1] ? fleet.pods[3] : fleet.pods[1],
    );
  });

  it("reads the cluster snapshot per decision", () => {
    const { route, fleet } = setup();
    fleet.store.replace(makeFleet(1, { model: "late" }).pods);
    expect(route(undefined, "late").t).toBe("routed");
  });

  it("leaves nothing reserved when a strategy's responseHeaders throws", () => {
    const fleet = makeFleet(2);
    const registry = createStrategyRegistry();
    const broken: StrategyFactory<object> = {
      type: "broken",
      paramsSchema: z.strictObject({}),
      create: () =>
        ({
          type: "broken",
          reads: [],
          score: (_c, pods) => ({ t: "scores", scores: pods.map(() => 1) }),
          responseHeaders: () => {
            throw new Error("bug");
          },
        }) satisfies Strategy,
    };
    registry.register(broken);
    const director = fleetDirector(fleet, { registry, defaultStrategy: "broken" });
    expect(() => director.route(routeInput())).toThrow("bug");
    expect(fleet.load.totalRequests()).toBe(0);
  });

  describe("creation", () => {
    const create = (defaultStrategy: string, params: Record<string, unknown> = {}) => {
      return fleetDirector(makeFleet(1), { registry: builtinRegistry([], { params }), defaultStrategy });
    };

    it.each([["prefix-cache-preble"], [""], ["random:0"]])("rejects the default strategy %j", (spec) => {
      expect(() => create(spec)).toThrow(`default routing strategy "${spec}": incorrect routing strategy`);
    });

    it("trims a valid default", () => {
      expect(create("  least-request:2,random ").defaultStrategy).toBe("least-request:2,random");
    });

    it("rejects params for an unregistered type", () => {
      expect(() => create("random", { "least-requets": {} })).toThrow("least-requets");
    });
  });
});
