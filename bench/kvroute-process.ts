/**
 * kvroute as a benchmark child: the real `main()` (flags from argv, exactly as `bin/kvroute.js` runs it) plus the
 * CPU-usage IPC of `child-ipc.ts`. Start it with `child_process.fork` (see `children.ts`), which stops it with
 * SIGTERM (kvroute drains and exits 0, as in production).
 *
 * If the benchmark process dies instead, this kills itself with SIGKILL: a graceful stop would log to a stdout
 * nobody reads any more, and pino's exit-time `flushSync` retries EPIPE forever, so kvroute would never exit.
 *
 * @module
 */
import { main } from "../src/main";
import { serveCpuQueries } from "./child-ipc";

serveCpuQueries(() => process.kill(process.pid, "SIGKILL"));

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`kvroute-process: fatal: ${err instanceof Error ? err.stack : String(err)}\n`);
    process.exit(1);
  },
);
