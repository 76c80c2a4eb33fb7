/**
 * The director with model config profiles: strategy precedence, the `x-aibrix-config-profile` header, invalid
 * configured strategies, and per-model RPS admission (through a scripted limiter; the Redis-backed one is tested in
 * test/usage/model-rps.test.ts and end to end in test/extproc/model-config.test.ts).
 */
import { z } from "zod";
import type { Pod } from "../../src/cluster/pod";
import { Code, RouteError } from "../../src/errors";
import type { Pick, Strategy, StrategyFactory } from "../../src/routing/framework";
import { parseModelConfig, type ModelConfig } from "../../src/cluster/model-config";
import type { ModelRateLimit, RpsAdmission } from "../../src/routing/rps-admission";
import { createClusterStore } from "../../src/cluster/cluster-state";
import { createLoadTracker } from "../../src/cluster/load-tracker";
import { builtinRegistry, fleetDirector, routeInput } from "../support/director-fixture";
import { makePod, makeRequest, MODEL, seededRandom } from "./pods";

function config(doc: object): ModelConfig {
  const r = parseModelConfig(JSON.stringify(doc));
  if (!r.ok) throw new Error(r.reason);
  return r.config;
}

/** A strategy whose filter leaves nothing: the decision after admission is `none`. */
const nothing: StrategyFactory<object> = {
  type: "nothing",
  paramsSchema: z.strictObject({}),
  create: () =>
    ({
      type: "nothing",
      reads: [],
      filter: () => [],
      score: (_c, pods) => ({ t: "scores", scores: pods.map(() => 1) }),
    }) satisfies Strategy,
};

/** A strategy with a bug: the decision throws after admission. */
const broken: StrategyFactory<object> = {
  type: "broken",
  paramsSchema: z.strictObject({}),
  create: () =>
    ({
      type: "broken",
      reads: [],
      score: () => {
        throw new Error("bug");
      },
    }) satisfies Strategy,
};

/** A limiter answering `answers` in turn and recording admissions and rollbacks. */
function scriptedLimiter(answers: RpsAdmission["t"][]) {
  const calls: [string, number][] = [];
  let rollbacks = 0;
  const limiter: ModelRateLimit = {
    admit: async (model, limit) => {
      calls.push([model, limit]);
      const t = answers.shift() ?? "allowed";
      return t === "allowed" ? { t, rollback: () => (rollbacks += 1) } : { t };
    },
  };
  return { limiter, calls, rollbacks: () => rollbacks };
}

function setup(pods: Pod[], opts: { limiter?: ModelRateLimit; defaultStrategy?: string } = {}) {
  const store = createClusterStore();
  store.replace(pods);
  const load = createLoadTracker();
  const director = fleetDirector(
    { store, load },
    {
      registry: builtinRegistry([nothing, broken]),
      defaultStrategy: opts.defaultStrategy ?? "least-request",
      random: seededRandom(3),
      ...(opts.limiter ? { modelRateLimit: opts.limiter } : {}),
    },
  );
  const input = (headers: Record<string, string> = {}, maxTokens?: number) =>
    routeInput({
      request: makeRequest(MODEL, 500, { maxTokens }),
      headers,
      strategyHeader: headers["routing-strategy"],
    });
  return {
    load,
    route: (headers?: Record<string, string>, maxTokens?: number) =>
      director.route(input(headers, maxTokens)),
    routeAsync: (headers?: Record<string, string>): Promise<Pick> =>
      Promise.resolve(director.routeWithPrompt(input(headers))),
  };
}

const profiles = {
  defaultProfile: "fast",
  profiles: {
    fast: { routingStrategy: "random" },
    sticky: { routingStrategy: "session-affinity" },
    plain: {},
    big: { routingStrategy: "least-request:2,random", routingConfig: { maxTokensGte: 1000 } },
  },
};

describe("director with model config", () => {
  const withConfig = (doc: object, i = 1): Pod[] => [makePod(0), makePod(i, { modelConfig: config(doc) })];

  it.each<[string, object, Record<string, string>, number | undefined, string, string | undefined]>([
    ["defaultProfile's strategy", profiles, {}, undefined, "random", "fast"],
    [
      "config-profile header picks the profile",
      profiles,
      { "config-profile": "sticky" },
      undefined,
      "session-affinity",
      "sticky",
    ],
    [
      "routing-strategy header beats the profile",
      profiles,
      { "config-profile": "sticky", "routing-strategy": "random" },
      undefined,
      "random",
      "sticky",
    ],
    [
      "a profile without a strategy: the default",
      profiles,
      { "config-profile": "plain" },
      undefined,
      "least-request",
      "plain",
    ],
    ["auto by max tokens", profiles, { "config-profile": "auto" }, 2000, "least-request:2,random", "big"],
    ["auto without a match: defaultProfile", profiles, { "config-profile": "auto" }, 10, "random", "fast"],
    [
      "locked beats the header",
      { ...profiles, lockedRoutingStrategy: "random" },
      { "routing-strategy": "least-request" },
      undefined,
      "random",
      "fast",
    ],
    [
      "locked applies without any profile",
      { defaultProfile: "x", lockedRoutingStrategy: "random", profiles: { y: {} } },
      {},
      undefined,
      "random",
      undefined,
    ],
  ])("%s", (_name, doc, headers, maxTokens, strategy, profile) => {
    const pick = setup(withConfig(doc)).route(headers, maxTokens);
    if (pick.t === "none") throw new Error("expected a pick");
    expect(pick.strategy).toBe(strategy);
    const header = pick.responseHeaders.find(([k]) => k === "x-aibrix-config-profile");
    expect(header?.[1]).toBe(profile);
  });

  it("without a config: the header, else the default, and no profile header", () => {
    const { route } = setup([makePod(0)]);
    const pick = route({ "config-profile": "fast" });
    expect(pick.t !== "none" && pick.strategy).toBe("least-request");
    expect(pick.t !== "none" && pick.responseHeaders).toEqual([]);
  });

  it("uses the first pod that has a config", () => {
    const pods = [
      makePod(0),
      makePod(1, { modelConfig: config({ profiles: { default: { routingStrategy: "random" } } }) }),
      makePod(2, { modelConfig: config({ profiles: { default: { routingStrategy: "session-affinity" } } }) }),
    ];
    const pick = setup(pods).route();
    expect(pick.strategy).toBe("random");
  });

  it.each<[string, object]>([
    ["an invalid locked strategy", { lockedRoutingStrategy: "no-such", profiles: { default: {} } }],
    ["an invalid profile strategy", { profiles: { default: { routingStrategy: "random:x" } } }],
  ])("%s is a 400 InvalidStrategy, nothing reserved", (_name, doc) => {
    const { route, load } = setup(withConfig(doc));
    let err: unknown;
    try {
      route();
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(RouteError);
    expect((err as RouteError).code).toBe(Code.InvalidStrategy);
    expect((err as RouteError).errorHeader).toEqual(["x-error-routing", "true"]);
    expect(load.totalRequests()).toBe(0);
  });
});

describe("director: per-model RPS admission", () => {
  const rps = (n: number, strategy = "random") => [
    makePod(0, {
      modelConfig: config({ profiles: { default: { routingStrategy: strategy, requestsPerSecond: n } } }),
    }),
    makePod(1),
  ];

  it("admits under the limit, with the profile's limit, before picking", async () => {
    const s = scriptedLimiter(["allowed"]);
    const pick = await setup(rps(2), { limiter: s.limiter }).routeAsync();
    expect(pick.t).toBe("routed");
    expect(s.calls).toEqual([[MODEL, 2]]);
    expect(s.rollbacks()).toBe(0);
  });

  it("refuses over the limit with AIBrix's 429, reserving nothing", async () => {
    const s = scriptedLimiter(["exceeded"]);
    const { routeAsync, load } = setup(rps(2), { limiter: s.limiter });
    await expect(routeAsync()).rejects.toMatchObject({
      code: Code.RateLimited,
      message: `model: ${MODEL} has exceeded RPS: 2`,
      errorHeader: ["x-error-model-rps-exceeded", "true"],
      openaiCode: "rate_limit_exceeded",
    });
    expect(load.totalRequests()).toBe(0);
  });

  it("lets a request through when the limiter is unavailable (fail open)", async () => {
    const s = scriptedLimiter(["unavailable"]);
    expect((await setup(rps(2), { limiter: s.limiter }).routeAsync()).t).toBe("routed");
  });

  it("rolls the count back when the admitted request yields none", async () => {
    const s = scriptedLimiter(["allowed"]);
    const pick = await setup(rps(2, "nothing"), { limiter: s.limiter }).routeAsync();
    expect(pick.t).toBe("none");
    expect(s.rollbacks()).toBe(1);
  });

  it("rolls the count back when the decision fails", async () => {
    const s = scriptedLimiter(["allowed"]);
    await expect(setup(rps(2, "broken"), { limiter: s.limiter }).routeAsync()).rejects.toThrow("bug");
    expect(s.rollbacks()).toBe(1);
  });

  it.each<[string, Pod[]]>([
    ["no limit in the profile", [makePod(0, { modelConfig: config({ profiles: { default: {} } }) })]],
    [
      "no ready pod",
      [
        makePod(0, {
          ready: false,
          modelConfig: config({ profiles: { default: { requestsPerSecond: 1 } } }),
        }),
      ],
    ],
  ])("does not count when there is %s", async (_name, pods) => {
    const s = scriptedLimiter([]);
    await setup(pods, { limiter: s.limiter }).routeAsync();
    expect(s.calls).toEqual([]);
  });

  it("the synchronous route never consults the limiter", () => {
    const s = scriptedLimiter(["exceeded"]);
    expect(setup(rps(1), { limiter: s.limiter }).route().t).toBe("routed");
    expect(s.calls).toEqual([]);
  });
});
