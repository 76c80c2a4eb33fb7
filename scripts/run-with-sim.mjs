#!/usr/bin/env node
/**
 * `make run`: kvroute on loopback with a small simulated fleet (kvroute-sim), or on the pods of an endpoints file.
 *
 *   node scripts/run-with-sim.mjs [--grpc-port 50052] [--http-port 8080] [--pods 3] [--model qwen3-8b]
 *     [--base-port 8001] [--kv-port 5557] [--kv-replay-port 5558] [--endpoints FILE] [-- kvroute flags...]
 *
 * Without --endpoints: starts kvroute-sim (pod i on 127.0.0.(i+1):base-port+i, KV events on the KV ports), waits
 * for its "ready", then starts kvroute in standalone mode on the endpoints file the simulator wrote, following the
 * pods' KV events (--kv-events-static) and metrics. With --endpoints FILE: kvroute alone on that file.
 *
 * Both children run in their own process groups, so a terminal's Ctrl-C reaches this launcher only, and each child
 * gets exactly one signal from it (a second Ctrl-C is passed on too: kvroute then hurries its drain). When either
 * child exits the other is stopped; the launcher exits once both are gone, 0 only if both stopped cleanly. Should
 * the launcher itself die, its exit handler kills what is left.
 *
 * The children's output passes through; the launcher's own lines start with "kvroute-run:" (each child's pid as
 * it starts, then "kvroute-run: ready ..." once kvroute logged that it is ready).
 */
import { spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import process from "node:process";
import { createInterface } from "node:readline";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const TAG = "kvroute-run:";

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    "grpc-port": { type: "string", default: "50052" },
    "http-port": { type: "string", default: "8080" },
    pods: { type: "string", default: "3" },
    model: { type: "string", default: "qwen3-8b" },
    "base-port": { type: "string", default: "8001" },
    "kv-port": { type: "string", default: "5557" },
    "kv-replay-port": { type: "string", default: "5558" },
    endpoints: { type: "string" },
    // The scripts to run; the tests point these at their compiled build.
    "kvroute-js": { type: "string", default: path.join(ROOT, "bin", "kvroute.js") },
    "sim-js": { type: "string", default: path.join(ROOT, "bin", "kvroute-sim.js") },
  },
});

function say(text) {
  process.stdout.write(`${TAG} ${text}\n`);
}

/** Running children, killed outright if the launcher exits before they stopped. */
const live = new Set();
process.on("exit", () => {
  for (const child of live) child.kill("SIGKILL");
});

/** Start `script` in its own process group; `onLine` sees each stdout line (which is passed through). */
function start(name, script, args, onLine) {
  const child = spawn(process.execPath, [script, ...args], {
    cwd: ROOT,
    detached: true,
    stdio: ["ignore", "pipe", "inherit"],
  });
  live.add(child);
  say(`${name} started (pid ${child.pid})`);
  child.exited = new Promise((resolve) =>
    child.once("exit", (code, signal) => {
      live.delete(child);
      resolve({ name, code, signal });
    }),
  );
  createInterface({ input: child.stdout }).on("line", (line) => {
    process.stdout.write(`${line}\n`);
    onLine(line);
  });
  return child;
}

/** Resolves with the first stdout line `match` accepts; rejects if the child exits first. */
function startAndWait(name, script, args, match) {
  let found;
  const seen = new Promise((resolve) => (found = resolve));
  const child = start(name, script, args, (line) => {
    if (match(line)) found(line);
  });
  return Promise.race([
    seen.then((line) => ({ child, line })),
    child.exited.then((r) => {
      throw new Error(`${name} exited before it was ready (code ${r.code}, signal ${r.signal})`);
    }),
  ]);
}

/** Stop both children (once) and exit when they are gone. */
let stopping;
function stopAll(children, signal, failed) {
  stopping ??= (async () => {
    for (const c of children) if (live.has(c)) c.kill(signal);
    const results = await Promise.all(children.map((c) => c.exited));
    const clean = results.every((r) => r.code === 0);
    if (!clean) say(results.map((r) => `${r.name} exit ${r.code ?? r.signal}`).join(", "));
    return failed || !clean ? 1 : 0;
  })();
  return stopping;
}

async function main() {
  const grpc = `127.0.0.1:${values["grpc-port"]}`;
  const http = `127.0.0.1:${values["http-port"]}`;
  const children = [];
  let stopSignal;
  // Listen before anything starts: a Ctrl-C during the start stops whatever has started.
  const signalled = new Promise((resolve) => (stopSignal = resolve));
  for (const sig of ["SIGINT", "SIGTERM"]) {
    process.on(sig, () => {
      // A repeated signal is passed on (kvroute hurries its drain); the first one starts the stop.
      if (stopping) for (const c of children) if (live.has(c)) c.kill(sig);
      stopSignal(sig);
    });
  }
  let scratch;
  const cleanup = () => scratch && rmSync(scratch, { recursive: true, force: true });
  process.on("exit", cleanup);

  // Relative to where the launcher was started; the children run in the repository root.
  let endpoints = values.endpoints === undefined ? undefined : path.resolve(values.endpoints);
  const kvrouteArgs = [];
  if (endpoints === undefined) {
    scratch = mkdtempSync(path.join(os.tmpdir(), "kvroute-run-"));
    endpoints = path.join(scratch, "endpoints.yaml");
    const simArgs = [
      ...["--pods", values.pods, "--base-port", values["base-port"], "--model", values.model],
      ...["--kv-port", values["kv-port"], "--kv-replay-port", values["kv-replay-port"]],
      ...["--endpoints-out", endpoints],
    ];
    // The first pod's KV ports as the simulator reports them: on Linux every pod's (its "loopback" layout gives
    // each pod its own address and the same ports); elsewhere ("shared" layout, each pod its own pair) kvroute can
    // follow the first pod's events only.
    let kvPorts;
    const sim = startAndWait("kvroute-sim", values["sim-js"], simArgs, (l) => {
      kvPorts ??= /kv events tcp:\/\/\S+:(\d+), replay (\d+)\)/.exec(l)?.slice(1);
      return l === "kvroute-sim: ready";
    });
    const started = await Promise.race([sim, signalled.then(() => undefined)]);
    if (started === undefined) {
      const s = await sim.catch(() => undefined);
      if (s) children.push(s.child);
      return stopAll(children, "SIGTERM", false);
    }
    children.push(started.child);
    const [pub, replay] = kvPorts ?? [values["kv-port"], values["kv-replay-port"]];
    kvrouteArgs.push("--kv-events-static", "--kv-events-port", pub, "--kv-events-replay-port", replay);
  }
  kvrouteArgs.push(
    ...["--standalone", "--endpoints-config", endpoints],
    ...["--grpc-bind-address", grpc, "--http-bind-address", http],
    // Local use: Ctrl-C stops at once (no load balancer to drain from). `kvroute route` reads the decision's facts
    // from its kvroute metadata; `-- --emit-endpoint-scores` adds the combined scores.
    ...["--drain-delay-ms", "0"],
    ...positionals,
  );
  const kvroute = startAndWait("kvroute", values["kvroute-js"], kvrouteArgs, (l) =>
    l.includes("kvroute ready"),
  );
  const ready = await Promise.race([kvroute.catch((e) => e), signalled.then(() => undefined)]);
  if (ready === undefined || ready instanceof Error) {
    if (ready instanceof Error) say(ready.message);
    const k = await kvroute.catch(() => undefined);
    if (k) children.push(k.child);
    return stopAll(children, "SIGTERM", ready instanceof Error);
  }
  children.push(ready.child);
  const fleet =
    values.endpoints === undefined ? `${values.pods} simulated pods serving ${values.model}` : endpoints;
  say(`ready: ext_proc gRPC ${grpc}, HTTP http://${http} (/debug/state, /metrics), pods: ${fleet}`);
  const port = values["grpc-port"] === "50052" ? "" : ` GRPC_PORT=${values["grpc-port"]}`;
  const address = port === "" ? "" : ` --grpc-address ${grpc}`;
  say(
    `route a request: make try${port}, or npx kvroute route${address} --model ${values.model} --prompt "hello"`,
  );
  say("Ctrl-C stops kvroute and the pods");
  // Whichever comes first: a signal, or a child ending on its own (then the other is stopped too).
  const first = await Promise.race([
    signalled.then((sig) => ({ sig })),
    ...children.map((c) => c.exited.then((r) => ({ exited: r }))),
  ]);
  if (first.exited) say(`${first.exited.name} stopped (code ${first.exited.code}); stopping the rest`);
  return stopAll(children, first.sig ?? "SIGTERM", first.exited !== undefined);
}

main().then(
  (code) => process.exit(code),
  (err) => {
    say(`failed: ${err instanceof Error ? err.message : String(err)}`);
    process.exit(1);
  },
);
