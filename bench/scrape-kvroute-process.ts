/**
 * kvroute as the scrape benchmark's child: the real `main()` (flags from argv, as `bin/kvroute.js` runs it), plus
 * an IPC query answering this process's CPU (`process.cpuUsage()`: user + system, every thread) and its event-loop
 * delay p50 / p99 / max since the previous query. Started and queried by `scrape-kvroute.ts`; stops on SIGTERM
 * (kvroute drains and exits 0), and SIGKILLs itself when the benchmark goes away (see `kvroute-process.ts`).
 *
 * @module
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import { main } from "../src/main";
import { ELD_RESOLUTION_MS, isScrapeVitalsQuery } from "./scrape-kvroute";
import type { ScrapeVitals } from "./scrape-kvroute";

const send = process.send?.bind(process);
if (!send) throw new Error("scrape-kvroute-process must be started with child_process.fork");
const delay = monitorEventLoopDelay({ resolution: ELD_RESOLUTION_MS });
delay.enable();
const beyond = (ns: number): number => Math.max(0, ns / 1e6 - ELD_RESOLUTION_MS);
process.on("message", (m: unknown) => {
  if (!isScrapeVitalsQuery(m)) return;
  const u = process.cpuUsage();
  const reply: ScrapeVitals = {
    t: "scrape-vitals",
    id: m.id,
    cpuMicros: u.user + u.system,
    systemMicros: u.system,
    mainThreadMicros: ((t) => t.user + t.system)(process.threadCpuUsage()),
    eldP50Ms: beyond(delay.percentile(50)),
    eldP99Ms: beyond(delay.percentile(99)),
    eldMaxMs: beyond(delay.max),
  };
  delay.reset();
  send(reply);
});
process.once("disconnect", () => process.kill(process.pid, "SIGKILL"));

main().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `scrape-kvroute-process: fatal: ${err instanceof Error ? err.stack : String(err)}\n`,
    );
    process.exit(1);
  },
);
