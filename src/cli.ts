/**
 * The `kvroute` command: run `main()` and exit with its code. Kept apart from `main.ts` so tests can import
 * `main` without starting a process.
 *
 * @module
 */
import { main } from "./main";

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `kvroute: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
