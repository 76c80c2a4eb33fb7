/**
 * The simulated fleet of the routing benchmark, as its own child process (`src/sim/cli.ts` through tsx, or its
 * prebuilt `.js` under jest): the pods' engine steps and SSE writes then run on their own event loop, not on the
 * driver's, so a busy driver does not slow the pods down (or the other way round) and TTFT measures the pods, not
 * the benchmark.
 *
 * Also the pods' side of a measurement: `/reset_prefix_cache` between strategies and the vLLM counters of
 * `/metrics` (prefix-cache queries/hits, preemptions) read before and after each run.
 *
 * @module
 */
import { spawn } from "node:child_process";
import type { ChildProcess } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { REPO_ROOT, freePort } from "./children";
import { sourceEntryArgs } from "./compiled";

const START_TIMEOUT_MS = 30_000;
const STOP_TIMEOUT_MS = 5_000;

/** Options of {@link startSimFleet}. */
export interface SimFleetOptions {
  readonly pods: number;
  readonly preset: string;
  readonly model: string;
  /** A prefill/decode layout (`kvroute-sim --roles`, e.g. `prefill:2,decode:2`); absent: undisaggregated pods. */
  readonly roles?: string;
}

/** A running simulated fleet. */
export interface SimFleet {
  /** `ip:port` of every pod, in order. */
  readonly pods: readonly string[];
  /** The kvroute endpoints file the fleet wrote (AIBrix's `rolesets` form with {@link SimFleet.roles}). */
  readonly endpointsFile: string;
  /** The prefill/decode layout, when the fleet is disaggregated. */
  readonly roles: string | undefined;
  /** KV-event PUB and replay ports shared by every pod (each pod has its own loopback IP). */
  readonly kvPort: number;
  readonly kvReplayPort: number;
  stop(): Promise<void>;
}

const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGKILL");
});

/**
 * Start `kvroute-sim` with `o.pods` pods on 127.0.0.1.. (the loopback layout: kvroute subscribes to the same KV
 * ports on every pod, as on a real fleet). The KV ports are picked free rather than vLLM's 5557/5558, so the
 * benchmark does not collide with anything else using those on the machine.
 */
export async function startSimFleet(o: SimFleetOptions): Promise<SimFleet> {
  const dir = mkdtempSync(path.join(os.tmpdir(), "kvroute-routing-"));
  const endpointsFile = path.join(dir, "endpoints.yaml");
  const basePort = await freePort();
  const kvPort = await freePort();
  const kvReplayPort = await freePort();
  const args = [
    ...sourceEntryArgs(path.join("src", "sim", "cli.ts")),
    ...["--pods", String(o.pods), "--base-port", String(basePort), "--preset", o.preset],
    ...["--model", o.model, "--layout", "loopback"],
    ...(o.roles === undefined ? [] : ["--roles", o.roles]),
    ...[
      "--kv-port",
      String(kvPort),
      "--kv-replay-port",
      String(kvReplayPort),
      "--endpoints-out",
      endpointsFile,
    ],
  ];
  const child = spawn(process.execPath, args, { cwd: REPO_ROOT, stdio: ["ignore", "pipe", "pipe"] });
  live.add(child);
  const exited = new Promise<number | null>((resolve) =>
    child.once("exit", (code) => {
      live.delete(child);
      resolve(code);
    }),
  );
  let out = "";
  let err = "";
  child.stderr.on("data", (d: Buffer) => (err = (err + d.toString("utf8")).slice(-4096)));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(
      () => reject(new Error(`kvroute-sim did not start\n${out}\n${err}`)),
      START_TIMEOUT_MS,
    );
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString("utf8");
      if (out.includes("kvroute-sim: ready")) {
        clearTimeout(timer);
        resolve();
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`kvroute-sim exited with code ${String(code)}\n${out}\n${err}`));
    });
  });
  // The stdout pipe must keep draining, or a chatty child would block on a full pipe.
  child.stdout.resume();
  const pods = Array.from({ length: o.pods }, (_, i) => `127.0.0.${i + 1}:${basePort + i}`);
  return {
    pods,
    endpointsFile,
    roles: o.roles,
    kvPort,
    kvReplayPort,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill("SIGTERM");
        const timer = setTimeout(() => child.kill("SIGKILL"), STOP_TIMEOUT_MS);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Drop every pod's prefix cache (vLLM's `POST /reset_prefix_cache`), so each strategy starts cold. */
export async function resetPrefixCaches(pods: readonly string[]): Promise<void> {
  await Promise.all(
    pods.map(async (p) => {
      const res = await fetch(`http://${p}/reset_prefix_cache`, { method: "POST" });
      if (!res.ok) throw new Error(`${p}: /reset_prefix_cache answered ${res.status}`);
    }),
  );
}

/** The vLLM counters of one pod (or their sum over the fleet) that a run's deltas are taken from. */
export interface PodCounters {
  readonly prefixQueries: number;
  readonly prefixHits: number;
  readonly preemptions: number;
}

/** The value of counter `name` (`vllm:<name>_total`, any labels) in exposition `text`; 0 when absent. */
function counter(text: string, name: string): number {
  const re = new RegExp(`^vllm:${name}_total(?:\\{[^}]*\\})? (\\S+)$`, "m");
  const m = re.exec(text);
  return m ? Number(m[1]) : 0;
}

/** Scrape the counters of every pod. */
export async function podCounters(pods: readonly string[]): Promise<PodCounters[]> {
  return Promise.all(
    pods.map(async (p) => {
      const text = await (await fetch(`http://${p}/metrics`)).text();
      return {
        prefixQueries: counter(text, "prefix_cache_queries"),
        prefixHits: counter(text, "prefix_cache_hits"),
        preemptions: counter(text, "num_preemptions"),
      };
    }),
  );
}

/** Fleet-wide `after − before`. */
export function counterDelta(before: readonly PodCounters[], after: readonly PodCounters[]): PodCounters {
  let prefixQueries = 0;
  let prefixHits = 0;
  let preemptions = 0;
  after.forEach((a, i) => {
    const b = before[i] ?? { prefixQueries: 0, prefixHits: 0, preemptions: 0 };
    prefixQueries += a.prefixQueries - b.prefixQueries;
    prefixHits += a.prefixHits - b.prefixHits;
    preemptions += a.preemptions - b.preemptions;
  });
  return { prefixQueries, prefixHits, preemptions };
}
