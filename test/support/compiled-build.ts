/**
 * The compiled build the process tests run: jest's global setup transpiles `src/`, `bench/` and the process-test
 * fixtures to CommonJS once per run (bench/compiled.ts uses it too), so each child starts with `node <file>.js` instead of recompiling the sources through
 * tsx (seconds of CPU per child on a loaded 2-core machine). Type checking stays in the separate `tsc` step.
 */
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import type * as Swc from "@swc/core";

const ROOT = join(__dirname, "..", "..");
/** Trees compiled, relative to the repository root. */
const TREES = ["src", "bench", join("test", "process", "fixtures")];
/** The env var through which the global setup hands the build's directory to the test workers. */
const ENV = "KVROUTE_TEST_BUILD_DIR";

/**
 * swc, loaded by the global setup only: every test file loads this module (through `compiled-threads.ts`), and
 * evaluating `@swc/core` there would cost each of them CPU for nothing.
 */
function swc(): typeof Swc {
  // eslint-disable-next-line @typescript-eslint/no-require-imports
  return require("@swc/core") as typeof Swc;
}

function compileTree(dir: string, out: string): void {
  const { transformFileSync } = swc();
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const from = join(dir, entry.name);
    if (entry.isDirectory()) {
      compileTree(from, out);
    } else if (entry.name.endsWith(".ts")) {
      const to = join(out, relative(ROOT, from)).replace(/\.ts$/, ".js");
      mkdirSync(join(to, ".."), { recursive: true });
      const { code } = transformFileSync(from, {
        jsc: { parser: { syntax: "typescript" }, target: "es2022" },
        module: { type: "commonjs" },
      });
      writeFileSync(to, code);
    }
  }
}

/**
 * Transpiles the trees into a fresh directory and records it in the environment (the workers jest forks next
 * inherit it). The directory sits under `node_modules/.cache` so that the compiled files resolve the repository's
 * packages and find `proto/` by walking up, and lint, prettier and git ignore it.
 */
export function buildOnce(): string {
  const out = join(ROOT, "node_modules", ".cache", `kvroute-test-build-${process.pid}`);
  rmSync(out, { recursive: true, force: true });
  for (const tree of TREES) compileTree(join(ROOT, tree), out);
  process.env[ENV] = out;
  return out;
}

/** Removes the build made by {@link buildOnce}. */
export function removeBuild(): void {
  const out = process.env[ENV];
  if (out) rmSync(out, { recursive: true, force: true });
}

/**
 * The node arguments that run `script` (a `.ts` path relative to the repository root, e.g. `src/cli.ts`) from the
 * compiled build.
 *
 * @throws Error if jest's global setup did not run (the build's directory is unknown).
 */
export function compiled(script: string): string[] {
  const out = process.env[ENV];
  if (!out)
    throw new Error(`${ENV} is not set: run the process tests through jest (its global setup builds once)`);
  return [join(out, script.replace(/\.ts$/, ".js"))];
}

/**
 * A path for `name` in this jest run's build directory, for an answer worth keeping across the run's test files
 * (removed with the build); undefined outside a jest run.
 */
export function perRunPath(name: string): string | undefined {
  const out = process.env[ENV];
  return out === undefined ? undefined : join(out, name);
}
