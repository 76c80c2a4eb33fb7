/**
 * kvroute's own version, from its `package.json`, for the startup line. Read once, at start: the file is found by
 * walking up from this module (`src/` in a checkout, `dist/src/` in the image, a compiled test build elsewhere) to
 * the first `package.json` named `kvroute`; when there is none, the version is `unknown` rather than a failed start.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import path from "node:path";

/** The version in kvroute's `package.json`, or `unknown`. */
export function kvrouteVersion(startDir: string = __dirname): string {
  for (let dir = startDir; ; dir = path.dirname(dir)) {
    try {
      const pkg = JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as {
        name?: unknown;
        version?: unknown;
      };
      if (pkg.name === "kvroute" && typeof pkg.version === "string") return pkg.version;
    } catch {
      // No (readable) package.json here: look further up.
    }
    if (path.dirname(dir) === dir) return "unknown";
  }
}
