import { Code, RouteError } from "../../src/errors";
import { MAX_SPEC_CHARS, MAX_SPEC_ENTRIES, parseStrategySpec } from "../../src/routing/strategy-spec";

describe("parseStrategySpec", () => {
  it.each<[string, [string, number][]]>([
    ["random", [["random", 1]]],
    [
      "least-request:3,random",
      [
        ["least-request", 3],
        ["random", 1],
      ],
    ],
    [
      " least-request : 3 , random ",
      [
        ["least-request", 3],
        ["random", 1],
      ],
    ],
    ["a:0,b", [["b", 1]]],
    ["a:1000000", [["a", 1_000_000]]],
    ["a:007", [["a", 7]]],
    [
      "prefix-cache:2,least-request:1",
      [
        ["prefix-cache", 2],
        ["least-request", 1],
      ],
    ],
    ["pd", [["pd", 1]]],
    [
      "x1:1,y2-z3:4",
      [
        ["x1", 1],
        ["y2-z3", 4],
      ],
    ],
  ])("accepts %j", (raw, expected) => {
    const spec = parseStrategySpec(raw);
    expect(spec.raw).toBe(raw);
    expect(spec.entries.map((e) => [e.name, e.weight])).toEqual(expected);
  });

  it("accepts the entry bound exactly", () => {
    const raw = Array.from({ length: MAX_SPEC_ENTRIES }, (_, i) => `s${i}`).join(",");
    expect(parseStrategySpec(raw).entries).toHaveLength(MAX_SPEC_ENTRIES);
  });

  it.each<[string, string]>([
    ["empty", ""],
    ["blank", "   "],
    ["empty item in the middle", "a,,b"],
    ["trailing comma", "a,"],
    ["leading comma", ",a"],
    ["all zero", "a:0"],
    ["all zero, several", "a:0,b:0"],
    ["duplicate", "a,a"],
    ["duplicate with zero weight", "a:0,a"],
    ["negative weight", "a:-1"],
    ["plus sign", "a:+2"],
    ["fractional weight", "a:1.5"],
    ["exponent weight", "a:1e3"],
    ["weight over the bound", "a:1000001"],
    ["huge weight", "a:99999999999999999999"],
    ["empty weight", "a:"],
    ["empty name", ":2"],
    ["two colons", "a:1:2"],
    ["upper case", "Random"],
    ["underscore", "least_request"],
    ["double hyphen", "least--request"],
    ["trailing hyphen", "random-"],
    ["space inside name", "least request"],
    ["non-ascii", "rändom"],
    ["control character", "random\u0000"],
    ["too many entries", Array.from({ length: MAX_SPEC_ENTRIES + 1 }, (_, i) => `s${i}`).join(",")],
    ["too long", "a".repeat(MAX_SPEC_CHARS + 1)],
  ])("rejects %s", (_label, raw) => {
    let thrown: unknown;
    try {
      parseStrategySpec(raw);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(RouteError);
    const e = thrown as RouteError;
    expect(e.code).toBe(Code.InvalidStrategy);
    expect(e.errorHeader).toEqual(["x-error-routing", "true"]);
    expect(e.message.startsWith("incorrect routing strategy ")).toBe(true);
  });

  it("echoes the raw string in the message, truncated when over-long", () => {
    expect(() => parseStrategySpec("a:0")).toThrow("incorrect routing strategy a:0");
    // The quote is at most MAX_SPEC_CHARS UTF-8 bytes, the 3-byte ellipsis included.
    expect(() => parseStrategySpec("b".repeat(10_000))).toThrow(
      new RegExp(`^incorrect routing strategy b{${MAX_SPEC_CHARS - 3}}…$`),
    );
    expect(() => parseStrategySpec("x\r\nset-cookie: a")).toThrow(
      "incorrect routing strategy x\uFFFD\uFFFDset-cookie: a",
    );
  });

  it("returns frozen results", () => {
    const spec = parseStrategySpec("a:2,b");
    expect(Object.isFrozen(spec)).toBe(true);
    expect(Object.isFrozen(spec.entries)).toBe(true);
    expect(Object.isFrozen(spec.entries[0])).toBe(true);
  });
});
