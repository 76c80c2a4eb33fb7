/** The passive-health rows of the settings table. */
import { ConfigError, loadConfig } from "../../src/config";
import type { Config } from "../../src/config";

function load(argv: readonly string[], env: Record<string, string> = {}): Config {
  const r = loadConfig(argv, env);
  if ("help" in r) throw new Error("unexpected help");
  return r;
}

function problems(argv: readonly string[], env: Record<string, string> = {}): readonly string[] {
  try {
    load(argv, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("outlier settings", () => {
  it("read flags and environment variables", () => {
    expect(
      load(
        [
          "--outlier-detection=false",
          "--outlier-consecutive-failures",
          "3",
          "--outlier-failure-ratio",
          "0.25",
          "--outlier-base-ejection-ms",
          "1000",
        ],
        {
          KVROUTE_OUTLIER_MIN_REQUESTS: "7",
          KVROUTE_OUTLIER_WINDOW_MS: "2000",
          KVROUTE_OUTLIER_MAX_EJECTION_MS: "9000",
          KVROUTE_OUTLIER_MAX_EJECTED_PERCENT: "100",
        },
      ),
    ).toMatchObject({
      outlierDetection: false,
      outlierConsecutiveFailures: 3,
      outlierFailureRatio: 0.25,
      outlierMinRequests: 7,
      outlierWindowMs: 2000,
      outlierBaseEjectionMs: 1000,
      outlierMaxEjectionMs: 9000,
      outlierMaxEjectedPercent: 100,
    });
  });

  it.each([
    [
      ["--outlier-failure-ratio", "1.5"],
      "--outlier-failure-ratio (KVROUTE_OUTLIER_FAILURE_RATIO): must be a number >= 0 and <= 1",
    ],
    [
      ["--outlier-max-ejected-percent", "101"],
      "--outlier-max-ejected-percent (KVROUTE_OUTLIER_MAX_EJECTED_PERCENT): must be an integer >= 0 and <= 100",
    ],
    [
      ["--outlier-base-ejection-ms", "0"],
      "--outlier-base-ejection-ms (KVROUTE_OUTLIER_BASE_EJECTION_MS): must be an integer >= 1",
    ],
    [
      ["--outlier-base-ejection-ms", "10000", "--outlier-max-ejection-ms", "5000"],
      "--outlier-max-ejection-ms (KVROUTE_OUTLIER_MAX_EJECTION_MS): must be >= --outlier-base-ejection-ms (10000)",
    ],
  ])("rejects %j", (argv, message) => {
    expect(problems(argv).join("\n")).toContain(message);
  });
});
