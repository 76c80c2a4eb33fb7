/**
 * Helpers of the `loadConfig` tests: load and insist on a `Config`, or insist on the `ConfigError` a load throws.
 */
import type { Config } from "../../src/config";
import { ConfigError, loadConfig } from "../../src/config";

export type Env = Record<string, string | undefined>;

/** Load and insist on a Config (not a help request). */
export function load(argv: readonly string[], env: Env = {}): Config {
  const r = loadConfig(argv, env);
  if ("help" in r) throw new Error("unexpected help request");
  return r;
}

/** The ConfigError thrown by a load, or a failure if none is thrown. */
export function problemOf(argv: readonly string[], env: Env = {}): ConfigError {
  try {
    load(argv, env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return err as ConfigError;
  }
  throw new Error(`expected a ConfigError for ${JSON.stringify({ argv, env })}`);
}
