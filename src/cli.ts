/**
 * The `kvroute` command: serve (`main()`, the default), `kvroute --version`, `kvroute route ...` (one request
 * through a running kvroute, `route-command.ts`) or `kvroute calibrate ...` (a pod's prefill throughput,
 * `calibrate-command.ts`); exit with the command's code. Kept apart from `main.ts` so tests
 * can import `main` without starting a process.
 *
 * @module
 */
import { commandFromProcess } from "./config";
import { kvrouteVersion } from "./version";

// Each command loads only what it runs: `--version`, `route` and `calibrate` start without loading the server (the whole router,
// its gRPC and Redis clients and tokenizers), which is most of a start's CPU; `main.ts` in turn loads it only once the
// configuration was accepted (not for `--help` or a refused start).
async function run(): Promise<number> {
  const command = commandFromProcess();
  switch (command.kind) {
    case "version":
      process.stdout.write(`kvroute ${kvrouteVersion()}\n`);
      return 0;
    case "route":
      return (await import("./route-command.js")).runRoute(command.args);
    case "calibrate":
      return (await import("./calibrate-command.js")).runCalibrate(command.args);
    case "serve":
      return (await import("./main.js")).main();
  }
}

run().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `kvroute: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
