/**
 * The `kvroute-sim` command: host N simulated vLLM pods and write the kvroute endpoints file for them.
 *
 *   kvroute-sim --pods 4 --base-port 8001 --preset demo --model qwen3-8b --endpoints-out /tmp/sim.yaml
 *
 * Runs until SIGTERM or SIGINT, then closes every socket and exits 0.
 *
 * @module
 */
import { USAGE, parseCli, portInUseMessage } from "./cli-args";
import { Fleet, PortInUseError } from "./fleet";

async function run(): Promise<number> {
  let parsed;
  try {
    parsed = parseCli(process.argv.slice(2));
  } catch (err) {
    process.stderr.write(`kvroute-sim: ${err instanceof Error ? err.message : String(err)}\n${USAGE}`);
    return 2;
  }
  if (parsed === undefined) {
    process.stdout.write(USAGE);
    return 0;
  }
  let fleet: Fleet;
  try {
    fleet = await Fleet.start(parsed.fleet);
  } catch (err) {
    if (!(err instanceof PortInUseError)) throw err;
    process.stderr.write(`kvroute-sim: ${portInUseMessage(err)}\n`);
    return 1;
  }
  fleet.addresses().forEach((a, i) => {
    const role = parsed.fleet.roles?.[i];
    process.stdout.write(
      `kvroute-sim: pod http://${a.host}:${a.port}${role === undefined ? "" : ` (${role})`} ` +
        `(kv events tcp://${a.host}:${a.pubPort}, replay ${a.replayPort})\n`,
    );
  });
  if (parsed.endpointsOut !== undefined) {
    fleet.writeEndpoints(parsed.endpointsOut);
    process.stdout.write(`kvroute-sim: endpoints written to ${parsed.endpointsOut}\n`);
  }
  // Listen before saying "ready": the reader of that line may signal at once.
  const stop = new Promise<void>((resolve) => {
    process.once("SIGTERM", resolve);
    process.once("SIGINT", resolve);
  });
  process.stdout.write("kvroute-sim: ready\n");
  await stop;
  await fleet.close();
  return 0;
}

run().then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(
      `kvroute-sim: fatal: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`,
    );
    process.exit(1);
  },
);
