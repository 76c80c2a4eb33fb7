/**
 * `kvroute_build_info`'s version comes from the nearest kvroute package.json above the running file, wherever the
 * build put it; without one the metric still renders, as `unknown`.
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { readBuildVersion } from "../src/build-version";
import { scratchDir } from "./support/scratch-dir";

const ROOT = path.resolve(__dirname, "..");
const { version } = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { version: string };

describe("build version", () => {
  it("walks up to the repository's package.json", () => {
    expect(readBuildVersion(path.join(ROOT, "src", "observability"))).toBe(version);
  });

  it("skips another package's package.json and answers unknown when there is none of kvroute's", () => {
    expect(readBuildVersion(path.join(ROOT, "node_modules", "prom-client", "lib"))).toBe(version);
    expect(readBuildVersion(scratchDir("kvroute-build-version-"))).toBe("unknown");
  });
});
