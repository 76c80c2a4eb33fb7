/**
 * Scratch directories under the OS temp dir that a test file needs for its whole run (a tokenizer file, a
 * kubeconfig): created by {@link scratchDir}, removed after the file's last test by the `afterAll` that jest's
 * `setupFilesAfterEnv` registers (`scratch-cleanup.ts`), so a run leaves nothing behind in /tmp.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const made: string[] = [];

/** A fresh directory `<tmp>/<prefix>XXXXXX`, removed after the current test file. */
export function scratchDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  made.push(dir);
  return dir;
}

/** Removes every directory {@link scratchDir} made in this test file. */
export function removeScratchDirs(): void {
  for (const dir of made.splice(0)) rmSync(dir, { recursive: true, force: true });
}
