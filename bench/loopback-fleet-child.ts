/**
 * The loopback pods of `loopback-fleet.ts` in a process of their own (forked by `startLoopbackFleetProcess`), so
 * that answering kvroute's scrapes (every 50 ms per pod) costs neither the load generator's CPU nor its event loop.
 * Arguments: `<model> <pods>`. Reports `{ t: "fleet", endpoints, endpointsFile }` over IPC, answers CPU queries
 * (`child-ipc.ts`), and closes the pods (removing the endpoints file) on SIGTERM or when the parent goes away.
 *
 * @module
 */
import { serveCpuQueries } from "./child-ipc";
import { startLoopbackFleet } from "./loopback-fleet";
import type { FleetMessage } from "./loopback-fleet";

async function start(): Promise<void> {
  const [model = "m1", count = "3"] = process.argv.slice(2);
  const fleet = await startLoopbackFleet(model, Number(count));
  const stop = (): void => {
    fleet.close();
    process.exit(0);
  };
  serveCpuQueries(stop);
  process.once("SIGTERM", stop);
  const msg: FleetMessage = { t: "fleet", endpoints: fleet.endpoints, endpointsFile: fleet.endpointsFile };
  process.send?.(msg);
}

start().catch((err: unknown) => {
  process.stderr.write(`loopback-fleet-child: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
