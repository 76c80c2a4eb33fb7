/**
 * kvroute's version: the `version` of the repository's (or the image's) `package.json`, the one place it is kept.
 *
 * @module
 */
import fs from "node:fs";
import path from "node:path";

/**
 * The version in the nearest `package.json` named `kvroute` above `startDir`. Walks up because the compiled file
 * sits at different depths (`dist/src/` after `tsc`, `src/` under tsx, a test build under `node_modules/.cache/`).
 *
 * @throws Error if no such `package.json` is found.
 */
export function kvrouteVersion(startDir: string = __dirname): string {
  let dir = path.resolve(startDir);
  for (;;) {
    const file = path.join(dir, "package.json");
    if (fs.existsSync(file)) {
      const pkg: unknown = JSON.parse(fs.readFileSync(file, "utf8"));
      if (typeof pkg === "object" && pkg !== null) {
        const { name, version } = pkg as { name?: unknown; version?: unknown };
        if (name === "kvroute" && typeof version === "string") return version;
      }
    }
    const parent = path.dirname(dir);
    if (parent === dir) throw new Error(`kvroute's package.json not found above ${startDir}`);
    dir = parent;
  }
}
