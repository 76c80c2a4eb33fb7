/**
 * Benchmark children run kvroute's compiled build — the JavaScript `make run`, the container image and the chart
 * run — not tsx's transpile-on-load of the TypeScript sources. The two are not the same program: the approximate
 * index's `add` at its bound measured ~25 % slower under tsx than compiled by `tsc` (among other differences,
 * tsx's output keeps function names through extra wrapper calls), so a benchmark through tsx reported a slower
 * kvroute than users run. The first fork builds `dist/` once per benchmark process (`tsc -p tsconfig.build.json`, a few
 * seconds) so a benchmark never measures a stale build.
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

let built = false;

/** Compile `src/` and `bench/` into `dist/` (once per process). */
export function ensureCompiled(): void {
  if (built) return;
  const tsc = path.join(REPO_ROOT, "node_modules", "typescript", "bin", "tsc");
  execFileSync(process.execPath, [tsc, "-p", "tsconfig.build.json"], { cwd: REPO_ROOT, stdio: "inherit" });
  built = true;
}

/** Options of {@link forkCompiled}. */
export interface CompiledForkOptions {
  /** Node options (e.g. `--cpu-prof`, `--expose-gc`). */
  readonly execArgv?: readonly string[];
  readonly stdio: StdioOptions;
}

/** Fork the compiled form of the benchmark script `bench/<script>` (a `.ts` name), building first. */
export function forkCompiled(script: string, args: readonly string[], o: CompiledForkOptions): ChildProcess {
  ensureCompiled();
  const js = path.join(REPO_ROOT, "dist", "bench", script.replace(/\.ts$/, ".js"));
  return fork(js, [...args], { cwd: REPO_ROOT, execArgv: [...(o.execArgv ?? [])], stdio: o.stdio });
}
