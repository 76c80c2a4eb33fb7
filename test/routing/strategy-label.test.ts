/**
 * The strategy metric label: registered types, configured combinations in canonical form, `combined` for a
 * client's own mix, `unknown` for anything else; never the raw header.
 */
import {
  COMBINED_STRATEGY_LABEL,
  createStrategyLabeler,
  UNKNOWN_STRATEGY_LABEL,
} from "../../src/routing/strategy-label";

const REGISTERED = new Set(["random", "least-request", "prefix-cache"]);
const label = createStrategyLabeler((t) => REGISTERED.has(t), ["least-request:3, random", "prefix-cache"]);

describe("strategy label", () => {
  it.each([
    ["random", "random"],
    ["random:999999", "random"],
    [" prefix-cache ", "prefix-cache"],
    // A zero weight drops the item: what is left is one strategy.
    ["random:0,least-request", "least-request"],
    ["least-request:3,random", "least-request:3,random"],
    [" least-request:3 ,random:1", "least-request:3,random"],
    ["least-request:4,random", COMBINED_STRATEGY_LABEL],
    ["random,least-request:3", COMBINED_STRATEGY_LABEL],
    ["warp-drive", UNKNOWN_STRATEGY_LABEL],
    ["random,warp-drive", UNKNOWN_STRATEGY_LABEL],
    ["", UNKNOWN_STRATEGY_LABEL],
    ["x".repeat(10_000), UNKNOWN_STRATEGY_LABEL],
  ])("%j -> %s", (spec, want) => {
    expect(label(spec)).toBe(want);
  });

  it("takes a bounded set of values over many distinct specs", () => {
    const seen = new Set<string>();
    for (let w = 1; w <= 5000; w++) {
      seen.add(label(`random:${w}`));
      seen.add(label(`least-request:${w},random`));
      seen.add(label(`prefix-cache:${w},random:${w + 1}`));
      seen.add(label(`made-up-${w}`));
    }
    expect([...seen].sort()).toEqual(["combined", "least-request:3,random", "random", "unknown"]);
  });
});
