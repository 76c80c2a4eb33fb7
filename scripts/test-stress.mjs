#!/usr/bin/env node
// The jest suite under CPU contention: two busy-looping child processes run beside it for the whole run, so that a
// test which races the wall clock (a timeout too tight, a sleep standing in for an event) fails here rather than
// now and then on a loaded CI machine. The suite must pass like this on a 2-core machine.
//   node scripts/test-stress.mjs [--times N] [--burners K] [JEST_ARGS...]
// runs `jest JEST_ARGS` (what `make test` runs) N times (default 1), stopping at the first failure, with K burners
// (default 2), and exits with jest's status.
import { spawn } from "node:child_process";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const JEST = join(ROOT, "node_modules", "jest", "bin", "jest.js");

const say = (line) => process.stderr.write(`test-stress: ${line}\n`);

/** Splits our own flags from the arguments passed through to jest. */
function parseArgs(argv) {
  const opts = { times: 1, burners: 2, jestArgs: [] };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === "--times" || a === "--burners") {
      const n = Number(argv[++i]);
      if (!Number.isInteger(n) || n < (a === "--times" ? 1 : 0)) {
        say(`${a} needs a whole number, got ${argv[i]}`);
        process.exit(2);
      }
      opts[a.slice(2)] = n;
    } else {
      opts.jestArgs.push(a);
    }
  }
  return opts;
}

/** A child that spins one core until killed. */
function burner() {
  return spawn(process.execPath, ["-e", "for (;;) {}"], { stdio: "ignore" });
}

/** The jest run under way, if any (a signal to this script ends it too). */
let jest;

/** Runs jest once with inherited stdio; resolves with its exit status (1 if it died of a signal). */
function runJest(args) {
  return new Promise((resolveRun) => {
    jest = spawn(process.execPath, [JEST, ...args], { cwd: ROOT, stdio: "inherit" });
    jest.on("exit", (code) => resolveRun(code ?? 1));
  });
}

const { times, burners: burnerCount, jestArgs } = parseArgs(process.argv.slice(2));
const burners = Array.from({ length: burnerCount }, burner);
const stopBurners = () => {
  for (const b of burners) if (b.exitCode === null && b.signalCode === null) b.kill("SIGKILL");
};
// Ctrl-C or a CI cancel must not leave the burners spinning, nor jest running on.
for (const sig of ["SIGINT", "SIGTERM"]) {
  process.on(sig, () => {
    stopBurners();
    if (jest && jest.exitCode === null && jest.signalCode === null) jest.kill(sig);
    process.exit(130);
  });
}

let status = 0;
for (let run = 1; run <= times; run++) {
  const started = Date.now();
  say(`run ${run}/${times} with ${burnerCount} CPU burners`);
  status = await runJest(jestArgs);
  say(`run ${run}/${times} ${status === 0 ? "passed" : "FAILED"} in ${(Date.now() - started) / 1000} s`);
  if (status !== 0) break;
}
stopBurners();
process.exit(status);
