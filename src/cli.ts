/**
 * The `kvroute` command: serve (`main()`, the default), `kvroute --version`, or `kvroute route ...` (one request
 * through a running kvroute, `route-command.ts`); exit with the command's code. Kept apart from `main.ts` so tests
 * can import `main` without starting a process.
 *
 * @module
 */
import { commandFromProcess } from "./config";
import { main } from "./main";
import { runRoute } from "./route-command";
import { kvrouteVersion } from "./version";

function run(): Promise<number> {
  const command = commandFromProcess();
  switch (command.kind) {
    case "version":
      process.stdout.write(`kvroute ${kvrouteVersion()}\n`);
      return Promise.resolve(0);
    case "route":
      return runRoute(command.args);
    case "serve":
      return main();
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
