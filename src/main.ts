/**
 * Process wiring and lifecycle only: read configuration, start discovery and the server, and on SIGTERM/SIGINT
 * drain and exit 0. Exit codes: 0 clean stop or `--help`, 2 bad configuration, 1 failure to start.
 *
 * @module
 */
import { createClusterStore } from "./cluster/cluster-state";
import { watchEndpointsFile } from "./cluster/discovery/static-file";
import type { EndpointsFileWatch } from "./cluster/discovery/static-file";
import { ConfigError, helpText, loadConfigFromProcess } from "./config";
import type { Config } from "./config";
import { createLogger } from "./observability/logger";
import { createServer } from "./server";

/** Start kvroute; resolves with the exit code once it has stopped. */
export async function main(): Promise<number> {
  let config: Config;
  try {
    const loaded = loadConfigFromProcess();
    if ("help" in loaded) {
      process.stdout.write(helpText());
      return 0;
    }
    config = loaded;
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`kvroute: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  const log = createLogger(config.logLevel);
  if (!config.standalone || config.endpointsConfigPath === undefined) {
    log.error(
      {},
      "Kubernetes discovery is not available in this build; run with --standalone --endpoints-config FILE",
    );
    return 2;
  }
  const cluster = createClusterStore();
  let server;
  try {
    server = await createServer({ config, cluster, log });
  } catch (e) {
    log.error({ error: (e as Error).message }, "kvroute failed to start");
    return 1;
  }
  const watch: EndpointsFileWatch = watchEndpointsFile(config.endpointsConfigPath, cluster, log, {
    onReload: (result) => server.metrics.discoveryReloads.inc({ result }),
  });
  try {
    await watch.ready;
  } catch (e) {
    log.error({ error: (e as Error).message }, "endpoints file could not be loaded");
    watch.close();
    await server.drain(0);
    return 1;
  }
  log.info(
    {
      grpcPort: server.grpcPort,
      httpPort: server.httpPort,
      pods: cluster.snapshot().pods.size,
      routingAlgorithm: config.routingAlgorithm,
    },
    "kvroute ready",
  );
  const signal = await new Promise<NodeJS.Signals>((resolve) => {
    process.once("SIGTERM", () => resolve("SIGTERM"));
    process.once("SIGINT", () => resolve("SIGINT"));
  });
  log.info({ signal, drainTimeoutMs: config.drainTimeoutMs }, "draining");
  watch.close();
  await server.drain(config.drainTimeoutMs);
  log.info({}, "stopped");
  return 0;
}
