/**
 * kvroute's version for `kvroute_build_info`: the `version` of the nearest `package.json` named `kvroute` above this
 * file. Found by walking up because the compiled file sits at different depths (`dist/src/` in the image, the
 * sources under ts-node or jest, the tests' compiled build under `node_modules/.cache/`).
 *
 * @module
 */
import { readFileSync } from "node:fs";
import path from "node:path";

/** The version, or `unknown` when no kvroute package.json is found (the metric still renders). */
export function readBuildVersion(startDir: string = __dirname): string {
  for (let dir = startDir, up = 0; up < 8; up++) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as unknown;
      if (typeof pkg === "object" && pkg !== null) {
        const { name, version } = pkg as Record<string, unknown>;
        if (name === "kvroute" && typeof version === "string") return version;
      }
    } catch {
      // No (readable) package.json here: keep walking up.
    }
    const parent = path.dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  return "unknown";
}
