/** The tenant token budget rows of the settings table. */
import { ConfigError, loadConfig } from "../../src/config";
import type { Config } from "../../src/config";

function load(argv: readonly string[], env: Record<string, string> = {}): Config {
  const r = loadConfig(argv, env);
  if ("help" in r) throw new Error("unexpected help");
  return r;
}

function problems(argv: readonly string[]): readonly string[] {
  try {
    load(argv);
  } catch (e) {
    if (e instanceof ConfigError) return e.problems;
    throw e;
  }
  throw new Error("expected a ConfigError");
}

describe("tenant budget settings", () => {
  it("read flags and environment variables", () => {
    expect(
      load(["--tenant-tpm", "5000", "--tenant-header=x-team"], {
        KVROUTE_TENANT_TPM_OVERRIDES: "header:search=20000,anonymous=0,header:a=b=7",
      }),
    ).toMatchObject({
      tenantHeader: "x-team",
      tenantTpm: 5000,
      tenantTpmOverrides: [
        ["header:search", 20000],
        ["anonymous", 0],
        ["header:a=b", 7],
      ],
    });
  });

  it.each([
    ["header:a", 'got "header:a"'],
    ["=5", 'got "=5"'],
    ["a=1,,b=2", 'got ""'],
    ["a=-1", 'got "a=-1"'],
    ["a=1,a=2", 'names the same entry twice: "a"'],
  ])("rejects overrides %j", (value, message) => {
    const text = problems([`--tenant-tpm-overrides=${value}`]).join("\n");
    expect(text).toContain("--tenant-tpm-overrides (KVROUTE_TENANT_TPM_OVERRIDES): ");
    expect(text).toContain(message);
  });
});
