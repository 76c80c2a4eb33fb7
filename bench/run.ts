/**
 * Benchmark entry point: `npm run bench -- <name> [options]`. Adding a benchmark is one entry in `BENCHMARKS`.
 * Unknown or missing names print the usage and exit 2. Ctrl-C exits 130; server children are killed on any exit
 * (see `children.ts`).
 *
 * @module
 */
import { EXTPROC_USAGE, runExtProc } from "./extproc";
import { KV_USAGE, runKv } from "./kv";
import { TOKENIZE_USAGE, runTokenize } from "./tokenize";
import { SCRAPE_USAGE, runScrape } from "./scrape";
import { ROUTING_USAGE, runRouting } from "./routing";
import { RESILIENCE_USAGE, runResilience } from "./resilience";
import { ENVOY_RESET_USAGE, runEnvoyReset } from "./envoy-reset";

/** A benchmark: its usage line (options only) and how to run it with the remaining arguments. */
interface Benchmark {
  readonly usage: string;
  run(argv: readonly string[]): Promise<number>;
}

/** Every benchmark, by name. */
const BENCHMARKS: Readonly<Record<string, Benchmark>> = {
  extproc: { usage: EXTPROC_USAGE, run: runExtProc },
  kv: { usage: KV_USAGE, run: runKv },
  tokenize: { usage: TOKENIZE_USAGE, run: runTokenize },
  scrape: { usage: SCRAPE_USAGE, run: runScrape },
  routing: { usage: ROUTING_USAGE, run: runRouting },
  resilience: { usage: RESILIENCE_USAGE, run: runResilience },
  "envoy-reset": { usage: ENVOY_RESET_USAGE, run: runEnvoyReset },
};

function usage(): string {
  const lines = Object.values(BENCHMARKS).map((b) => `  npm run bench -- ${b.usage}`);
  return `usage:\n${lines.join("\n")}\n`;
}

async function main(argv: readonly string[]): Promise<number> {
  const [name, ...rest] = argv;
  const bench = name === undefined ? undefined : BENCHMARKS[name];
  if (!bench) {
    if (name !== undefined && name !== "--help" && name !== "-h")
      process.stderr.write(`unknown benchmark: ${name}\n`);
    process.stderr.write(usage());
    return name === "--help" || name === "-h" ? 0 : 2;
  }
  return bench.run(rest);
}

process.once("SIGINT", () => process.exit(130));
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: unknown) => {
    process.stderr.write(`bench: ${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
    process.exit(1);
  },
);
