/**
 * Benchmarks run kvroute's compiled build — the JavaScript `make run`, the container image and the chart run — not
 * tsx's transpile-on-load of the TypeScript sources: `npm run bench` compiles and runs `dist/bench/run.js`, and its
 * children are the compiled scripts beside it. The two are not the same program: the approximate
 * index's `add` at its bound measured ~25 % slower under tsx than compiled by `tsc` (among other differences,
 * tsx's output keeps function names through extra wrapper calls), so a benchmark through tsx reported a slower
 * kvroute than users run. Started through tsx instead (`tsx bench/run.ts`), the first fork builds `dist/` once
 * (`tsc -p tsconfig.tools.json`: kvroute plus the simulator and the benchmarks, a few seconds), so a child never runs a stale build.
 *
 * @module
 */
import { execFileSync, fork } from "node:child_process";
import type { ChildProcess, StdioOptions } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";

/** The repository root: the nearest directory above this file holding `package.json` (from `bench/` or `dist/bench/`). */
function findRepoRoot(from: string): string {
  for (let dir = from; ; dir = path.dirname(dir)) {
    if (existsSync(path.join(dir, "package.json"))) return dir;
    if (path.dirname(dir) === dir) throw new Error(`no package.json above ${from}`);
  }
}

/** Repository root, the same whether this module runs from `bench/` or compiled into `dist/bench/`. */
export const REPO_ROOT = findRepoRoot(__dirname);

/**
 * A JavaScript tree built before this process started, laid out as `dist/` is: jest's global setup transpiles
 * `src/` and `bench/` once per test run (test/support/compiled-build.ts), so that a benchmark test neither runs a
 * whole `tsc` nor writes the repository's `dist/` while other tests run.
 */
const PREBUILT = process.env["KVROUTE_TEST_BUILD_DIR"];
/** Where the compiled tree is. */
const BUILD_ROOT = PREBUILT ?? path.join(REPO_ROOT, "dist");

/** Compiled already when this module is (`npm run bench` built `dist/` before starting it), or prebuilt. */
let built = __filename.endsWith(".js") || PREBUILT !== undefined;

/** Compile `src/` (with the simulator) and `bench/` into `dist/` (once per process). */
export function ensureCompiled(): void {
  if (built) return;
  const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.tools.json"], { cwd: REPO_ROOT, stdio: "inherit" });
  built = true;
}

/**
 * Node's arguments to run the TypeScript entry `source` (relative to the repository root, e.g. `src/sim/cli.ts`):
 * its prebuilt `.js` when there is a prebuilt tree, else the source through tsx.
 */
export function sourceEntryArgs(source: string): string[] {
  if (PREBUILT !== undefined) return [path.join(PREBUILT, source.replace(/\.ts$/, ".js"))];
  return ["--import", "tsx", source];
}

/** Options of {@link forkCompiled}. */
export interface CompiledForkOptions {
  /** Node options (e.g. `--cpu-prof`, `--expose-gc`). */
  readonly execArgv?: readonly string[];
  readonly stdio: StdioOptions;
}

/** The compiled form of the benchmark script `bench/<script>` (a `.ts` name), built if need be. */
export function compiledScript(script: string): string {
  ensureCompiled();
  return path.join(BUILD_ROOT, "bench", script.replace(/\.ts$/, ".js"));
}

/** Fork the compiled form of the benchmark script `bench/<script>` (a `.ts` name), building first. */
export function forkCompiled(script: string, args: readonly string[], o: CompiledForkOptions): ChildProcess {
  return fork(compiledScript(script), [...args], {
    cwd: REPO_ROOT,
    execArgv: [...(o.execArgv ?? [])],
    stdio: o.stdio,
  });
}
