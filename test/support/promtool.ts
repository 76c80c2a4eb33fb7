/**
 * Prometheus's `promtool` (Debian's `prometheus` package) for the tests that lint what kvroute exports: the
 * `/metrics` page and the dashboard's PromQL. Missing, it is a failure naming the install command, never a skip,
 * so a machine without the linter cannot pass these tests unnoticed.
 *
 * @module
 */
import { execFile, execFileSync } from "node:child_process";

/** promtool's path. @throws Error naming the install command when it is not installed. */
export function promtool(): string {
  let bin = "";
  try {
    bin = execFileSync("sh", ["-c", "command -v promtool"], { encoding: "utf8" }).trim();
  } catch {
    // Not on PATH: reported below.
  }
  if (bin === "")
    throw new Error(
      "promtool is not installed: `apt-get install -y prometheus` (Debian; .ci/run installs it) — the test " +
        "fails rather than skips, so a missing linter never passes unnoticed",
    );
  return bin;
}

/** Run promtool with `args`, `stdin` on its standard input: its exit status and everything it printed. */
export function runPromtool(args: readonly string[], stdin = ""): Promise<{ code: number; output: string }> {
  return new Promise((resolve) => {
    const child = execFile(promtool(), [...args], (err, stdout, stderr) => {
      const code = err === null ? 0 : typeof err.code === "number" ? err.code : 1;
      resolve({ code, output: `${stdout}${stderr}` });
    });
    child.stdin?.end(stdin);
  });
}
