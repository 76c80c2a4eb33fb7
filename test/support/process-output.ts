/**
 * A finished child process's exit code and whole output, for the process tests.
 *
 * @module
 */
import type { ChildProcessWithoutNullStreams } from "node:child_process";

/** What a child wrote and how it ended. */
export interface ProcessOutput {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** Collects `child`'s stdout and stderr from now on; resolves once it exited and both streams closed. */
export function collectOutput(child: ChildProcessWithoutNullStreams): Promise<ProcessOutput> {
  let stdout = "";
  let stderr = "";
  child.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
  child.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on("close", (code) => resolve({ code, stdout, stderr })));
}
