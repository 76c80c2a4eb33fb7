import {
  MAX_MODEL_CONFIG_CHARS,
  MAX_PROFILES,
  parseModelConfig,
  type ModelConfig,
} from "../../src/cluster/model-config";
import {
  autoProfileName,
  selectProfile,
  strategyFor,
  type RequestFeatures,
} from "../../src/routing/config-profile";

function parsed(doc: unknown): ModelConfig {
  const r = parseModelConfig(typeof doc === "string" ? doc : JSON.stringify(doc));
  if (!r.ok) throw new Error(r.reason);
  return r.config;
}

describe("parseModelConfig", () => {
  it("parses AIBrix's shape, trims strategies, drops unknown keys and empty strings", () => {
    const config = parsed({
      lockedRoutingStrategy: " least-request ",
      defaultProfile: "",
      future: true,
      profiles: {
        b: { routingStrategy: "random", requestsPerSecond: 0, extra: 1 },
        a: { routingStrategy: "", routingConfig: { promptTokensLt: 100, other: "kept" } },
      },
    });
    expect(config).toEqual({
      lockedRoutingStrategy: "least-request",
      profiles: {
        a: { routingConfig: { promptTokensLt: 100, other: "kept" }, hints: { promptTokensLt: 100 } },
        b: { routingStrategy: "random" },
      },
    });
    expect(Object.keys(config.profiles)).toEqual(["a", "b"]);
    expect(Object.isFrozen(config)).toBe(true);
  });

  it("accepts an already-decoded object (the endpoints file)", () => {
    expect(parseModelConfig({ profiles: { default: {} } })).toEqual({
      ok: true,
      config: { profiles: { default: {} } },
    });
  });

  const many = Object.fromEntries(Array.from({ length: MAX_PROFILES + 1 }, (_, i) => [`p${i}`, {}]));
  it.each<[string, unknown, string]>([
    ["not JSON", "{", "not JSON"],
    ["too long", " ".repeat(MAX_MODEL_CONFIG_CHARS + 1), "longer than"],
    ["not an object", "[]", "expected object"],
    ["no profiles key", { defaultProfile: "x" }, "profiles"],
    ["empty profiles", { profiles: {} }, "at least one profile"],
    ["too many profiles", { profiles: many }, `at most ${MAX_PROFILES}`],
    ["fractional RPS", { profiles: { p: { requestsPerSecond: 1.5 } } }, "profiles.p.requestsPerSecond"],
    ["string RPS", { profiles: { p: { requestsPerSecond: "5" } } }, "profiles.p.requestsPerSecond"],
    ["non-string strategy", { profiles: { p: { routingStrategy: 3 } } }, "profiles.p.routingStrategy"],
    ["bad hint", { profiles: { p: { routingConfig: { maxTokensGte: -1 } } } }, "routingConfig.maxTokensGte"],
    [
      "empty range",
      { profiles: { p: { routingConfig: { promptTokensGte: 9, promptTokensLt: 9 } } } },
      "below",
    ],
  ])("refuses %s", (_name, doc, reason) => {
    const r = parseModelConfig(typeof doc === "string" ? doc : JSON.stringify(doc));
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.reason).toContain(reason);
  });
});

describe("selectProfile", () => {
  const config = parsed({
    defaultProfile: "fast",
    profiles: {
      fast: { routingStrategy: "random" },
      default: { routingStrategy: "least-request" },
      long: { routingStrategy: "prefix-cache", routingConfig: { promptTokensGte: 1000 } },
      longShortOut: { routingConfig: { promptTokensGte: 1000, maxTokensLt: 64 } },
      short: { routingConfig: { promptTokensLt: 1000 } },
      shorter: { routingConfig: { promptTokensLt: 100 } },
      alsoShorter: { routingConfig: { promptTokensLt: 100 } },
    },
  });
  const noDefault = parsed({ profiles: { default: {}, other: {} } });
  const none = parsed({ defaultProfile: "missing", profiles: { other: {} } });

  it.each<[string, ModelConfig, string | undefined, RequestFeatures, string | undefined]>([
    ["the header's profile", config, "long", {}, "long"],
    ["the header is trimmed", config, "  long ", {}, "long"],
    ["no header: defaultProfile", config, undefined, {}, "fast"],
    ["empty header: defaultProfile", config, "", {}, "fast"],
    ["unknown header: defaultProfile", config, "nope", {}, "fast"],
    ['no defaultProfile: "default"', noDefault, undefined, {}, "default"],
    ["neither exists: none", none, undefined, {}, undefined],
    ["a prototype key is not a profile", none, "constructor", {}, undefined],
    ["auto: the only match", config, "auto", { promptTokens: 5000, maxTokens: 500 }, "long"],
    [
      "auto (any case): most hints win",
      config,
      "AUTO",
      { promptTokens: 5000, maxTokens: 10 },
      "longShortOut",
    ],
    ["auto: the narrower bound wins", config, "auto", { promptTokens: 50 }, "alsoShorter"],
    ["auto: narrower, not ambiguous", config, "auto", { promptTokens: 500 }, "short"],
    ["auto: no match falls back to the default", config, "auto", { maxTokens: 5 }, "fast"],
    ["auto: a missing feature matches no hint on it", config, "auto", {}, "fast"],
  ])("%s", (_name, cfg, header, features, expected) => {
    expect(selectProfile(cfg, header, features)?.name).toBe(expected);
  });

  it("auto ties go to the first name in order", () => {
    // alsoShorter and shorter have the same hints; "alsoShorter" sorts first.
    expect(autoProfileName(config, { promptTokens: 1 })).toBe("alsoShorter");
  });
});

describe("strategyFor (AIBrix precedence)", () => {
  const locked = parsed({
    lockedRoutingStrategy: "least-request",
    profiles: { p: { routingStrategy: "random" } },
  });
  const open = parsed({ profiles: { p: { routingStrategy: "random" }, q: {} } });
  const sel = (c: ModelConfig, name: string) => selectProfile(c, name, {});
  it.each<[string, ModelConfig | undefined, string | undefined, string, string]>([
    ["locked beats the header", locked, "prefix-cache", "least-request", "locked"],
    ["the header beats the profile", open, "prefix-cache", "prefix-cache", "header"],
    ["a blank header is absent", open, "   ", "random", "profile"],
    ["the profile beats the default", open, undefined, "random", "profile"],
    ["no config: the default", undefined, undefined, "default-spec", "default"],
  ])("%s", (_name, cfg, header, spec, source) => {
    const selection = cfg === undefined ? undefined : sel(cfg, "p");
    expect(strategyFor(cfg, selection, header, "default-spec")).toEqual({ spec, source });
  });

  it("a profile without a strategy falls to the default", () => {
    expect(strategyFor(open, sel(open, "q"), undefined, "d")).toEqual({ spec: "d", source: "default" });
  });
});
