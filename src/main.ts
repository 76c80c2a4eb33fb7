/**
 * The serving command's entry: read the configuration, answer `--help` or refuse a bad configuration (exit 2),
 * and only then load and run the server (`serve.ts`). The configuration alone loads in a fraction of the server's
 * module graph (the router, gRPC, metrics, tokenizers), so `--help` and a refused start cost little CPU.
 *
 * @module
 */
import { ConfigError, helpText, loadConfigFromProcess, unreadAibrixEnvFromProcess } from "./config";

/** The other commands of the `kvroute` binary (`cli.ts`), after the serving flags in `--help`. */
const COMMANDS_HELP = `
Other commands:
  kvroute --version, -v     print the version and exit
  kvroute route --help      send one request through a running kvroute as Envoy does and print the decision
  kvroute calibrate --help  measure a saturated pod's prefill throughput and print the prefix-affinity gate
`;

/**
 * Start kvroute; resolves with the exit code once it has stopped (0 clean stop or `--help`, 2 bad configuration,
 * 1 failure to start).
 */
export async function main(): Promise<number> {
  try {
    const config = loadConfigFromProcess();
    if ("help" in config) {
      process.stdout.write(helpText() + COMMANDS_HELP);
      return 0;
    }
    return await (await import("./serve.js")).serve(config, unreadAibrixEnvFromProcess());
  } catch (e) {
    // Refused when read, or by discovery before anything started (a kubeconfig that cannot be loaded).
    if (!(e instanceof ConfigError)) throw e;
    process.stderr.write(`kvroute: ${e.message}\n`);
    return 2;
  }
}
