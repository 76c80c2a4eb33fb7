import { z } from "zod";
import { Code, RouteError } from "../../src/errors";
import type { Strategy, StrategyFactory } from "../../src/routing/framework";
import { createStrategyRegistry, DEFAULT_PLAN_CACHE_SIZE } from "../../src/routing/registry";
import { registerBuiltins } from "../../src/routing/strategies";

/** A test strategy type whose params carry a bounded integer with a default. */
function knobFactory(type = "knob"): StrategyFactory<{ k: number }> & { created: { k: number }[] } {
  const created: { k: number }[] = [];
  return {
    type,
    paramsSchema: z.strictObject({ k: z.number().int().min(1).default(3) }),
    created,
    create(params) {
      created.push(params);
      return {
        type,
        reads: [],
        score: (_ctx, pods) => ({ t: "scores", scores: pods.map(() => 1) }),
      } satisfies Strategy;
    },
  };
}

function expectInvalidStrategy(fn: () => unknown, raw: string): void {
  let thrown: unknown;
  try {
    fn();
  } catch (err) {
    thrown = err;
  }
  expect(thrown).toBeInstanceOf(RouteError);
  expect((thrown as RouteError).code).toBe(Code.InvalidStrategy);
  expect((thrown as RouteError).errorHeader).toEqual(["x-error-routing", "true"]);
  expect((thrown as RouteError).message).toBe(`incorrect routing strategy ${raw}`);
}

describe("createStrategyRegistry", () => {
  it("registers the builtins in one place", () => {
    const registry = createStrategyRegistry();
    registerBuiltins(registry);
    expect(registry.types()).toEqual([
      "random",
      "least-request",
      "power-of-two",
      "session-affinity",
      "least-kv-cache",
      "least-gpu-cache",
      "least-waiting",
      "least-utilization",
      "lora-affinity",
      "least-latency",
      "least-busy-time",
      "throughput",
      "prefix-cache",
      "prefix-cache-and-load",
      "prefix-affinity",
      "slo",
      "slo-least-load-pulling",
      "slo-pack-load",
      "slo-least-load",
      "vtc-basic",
      "pd",
    ]);
    expect(registry.has("least-request")).toBe(true);
    expect(registry.has("prefix-cache-preble")).toBe(false);
    expect(() => registry.checkParams()).not.toThrow();
  });

  it("compiles a weighted spec into shares that sum to 1, reusing one instance per type", () => {
    const registry = createStrategyRegistry();
    registerBuiltins(registry);
    const a = registry.resolve("least-request:3,random");
    expect(a.raw).toBe("least-request:3,random");
    expect(a.entries.map((e) => [e.strategy.type, e.weight, e.share])).toEqual([
      ["least-request", 3, 0.75],
      ["random", 1, 0.25],
    ]);
    const b = registry.resolve("random,least-request");
    expect(b.entries[1]?.strategy).toBe(a.entries[0]?.strategy);
  });

  it.each([["prefix-cache-preble"], ["random,nope"], ["least-request:2,pd-disaggregation"]])(
    "rejects unknown type in %j",
    (raw) => {
      const registry = createStrategyRegistry();
      registerBuiltins(registry);
      expectInvalidStrategy(() => registry.resolve(raw), raw);
      expect(registry.cachedPlans()).toBe(0);
    },
  );

  it("rejects grammar errors with the same error", () => {
    const registry = createStrategyRegistry();
    registerBuiltins(registry);
    expectInvalidStrategy(() => registry.resolve("random:0"), "random:0");
  });

  it("throws on duplicate registration", () => {
    const registry = createStrategyRegistry();
    registerBuiltins(registry);
    expect(() => registerBuiltins(registry)).toThrow('strategy type "random" is already registered');
  });

  it("throws on a type that could never be named in a spec", () => {
    const registry = createStrategyRegistry();
    expect(() => registry.register(knobFactory("Bad_Type"))).toThrow("not lower-case kebab-case");
  });

  it("throws when the factory builds a strategy of another type", () => {
    const registry = createStrategyRegistry();
    const f = knobFactory("knob");
    expect(() =>
      registry.register({ ...f, create: (p, d) => ({ ...f.create(p, d), type: "other" }) }),
    ).toThrow('knob: factory created a strategy of type "other"');
  });

  it("applies schema defaults when no params are configured", () => {
    const f = knobFactory();
    createStrategyRegistry().register(f);
    expect(f.created).toEqual([{ k: 3 }]);
  });

  it("passes configured params through the schema", () => {
    const f = knobFactory();
    createStrategyRegistry({ params: { knob: { k: 9 } } }).register(f);
    expect(f.created).toEqual([{ k: 9 }]);
  });

  it.each<[string, unknown, RegExp]>([
    ["out of range", { k: 0 }, /^knob: k: /],
    ["wrong type", { k: "x" }, /^knob: k: /],
    ["unknown key", { k: 2, extra: 1 }, /^knob: .*extra/],
    ["not an object", 5, /^knob: /],
  ])("fails startup on bad params (%s) naming the type", (_label, params, message) => {
    const registry = createStrategyRegistry({ params: { knob: params } });
    expect(() => registry.register(knobFactory())).toThrow(message);
    expect(registry.has("knob")).toBe(false);
  });

  it("fails startup on bad params for a builtin", () => {
    const registry = createStrategyRegistry({ params: { "least-request": { window: 3 } } });
    expect(() => registerBuiltins(registry)).toThrow(/^least-request: /);
  });

  it("wraps a throwing factory with its type", () => {
    const registry = createStrategyRegistry();
    const f = knobFactory();
    expect(() =>
      registry.register({
        ...f,
        create: () => {
          throw new Error("boom");
        },
      }),
    ).toThrow("knob: boom");
  });

  it("checkParams names params for unregistered types", () => {
    const registry = createStrategyRegistry({ params: { "least-requets": {}, random: {} } });
    registerBuiltins(registry);
    expect(() => registry.checkParams()).toThrow(
      "params given for unregistered strategy type(s): least-requets",
    );
  });

  describe("plan cache", () => {
    const specs = (n: number) => Array.from({ length: n }, (_, i) => `random:${i + 1}`);

    it("returns the same plan for the same string", () => {
      const registry = createStrategyRegistry();
      registerBuiltins(registry);
      expect(registry.resolve("random")).toBe(registry.resolve("random"));
    });

    it("is bounded by default", () => {
      const registry = createStrategyRegistry();
      registerBuiltins(registry);
      for (const s of specs(DEFAULT_PLAN_CACHE_SIZE + 50)) registry.resolve(s);
      expect(registry.cachedPlans()).toBe(DEFAULT_PLAN_CACHE_SIZE);
    });

    it("evicts the least recently used plan at the bound", () => {
      const registry = createStrategyRegistry({ planCacheSize: 3 });
      registerBuiltins(registry);
      const [s1, s2, s3, s4] = specs(4) as [string, string, string, string];
      const p1 = registry.resolve(s1);
      const p2 = registry.resolve(s2);
      registry.resolve(s3);
      expect(registry.resolve(s1)).toBe(p1); // touch s1: s2 is now the oldest
      registry.resolve(s4);
      expect(registry.cachedPlans()).toBe(3);
      expect(registry.resolve(s1)).toBe(p1);
      const p2again = registry.resolve(s2);
      expect(p2again).not.toBe(p2);
      expect(p2again).toEqual(p2);
    });
  });
});
