/**
 * `kvroute_build_info`: a gauge fixed at 1 whose labels say which kvroute runs on which Node, so a dashboard can
 * tell replicas of a rollout apart and join them onto other series (`* on(instance) group_left(version)`).
 *
 * @module
 */
import { Gauge } from "prom-client";
import type { Registry } from "prom-client";

/** What the wiring knows of the build. */
export interface BuildInfo {
  /** kvroute's version (package.json), or `unknown` when it could not be read. */
  readonly version: string;
}

/** Register `kvroute_build_info{version,node_version,platform,arch} 1`. */
export function registerBuildInfo(registry: Registry, info: BuildInfo): void {
  const gauge = new Gauge({
    name: "kvroute_build_info",
    help: "Always 1; the labels name the kvroute version and the Node version, platform and architecture it runs on.",
    labelNames: ["version", "node_version", "platform", "arch"],
    registers: [registry],
  });
  gauge.set(
    {
      version: info.version,
      node_version: process.version,
      platform: process.platform,
      arch: process.arch,
    },
    1,
  );
}
