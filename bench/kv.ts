/**
 * `npm run bench -- kv [--bound N] [--rounds N] [--round-blocks N] [--skip-index-figures]`: how many vLLM KV
 * BLOCK events one core ingests, fresh blocks through the real path (see `kv-ingest.ts`), printed as a goal row
 * (`goal-table.ts`) with the spread over rounds, next to the same path into a counting sink and into a sink that
 * only computes the key chain (the index without its storage), a bare-SUB floor and
 * an in-process split (decode / hash chain / index). Then the prefix-index figures (`kv-index.ts`) and
 * tokenization timings.
 *
 * The ingest runs in this process, so a profile of it is `node --cpu-prof dist/bench/run.js kv …` after `npm run build` (the
 * engine child is not profiled; its CPU is not counted either).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { formatGoalTable, goalExitCode } from "./goal-table";
import type { GoalRow } from "./goal-table";
import { benchApproximateFull, benchLookups, benchMemory, indexFigureLines } from "./kv-index";
import {
  benchHasher,
  ingestFloor,
  ingestHashOnly,
  ingestIndex,
  ingestNoop,
  ingestSplit,
  perCore,
} from "./kv-ingest";
import type { IngestOptions, IngestResult } from "./kv-ingest";
import { benchTokenize } from "./tokenize";

/** Usage text of this benchmark. */
export const KV_USAGE =
  "kv [--bound N=2000000] [--rounds N=5] [--round-blocks N=500000] [--blocks-per-event N=128] [--skip-index-figures]";

/** The goal of issue 12: block events per CPU-second of the ingesting process. */
const GOAL_PER_CORE = 1_000_000;

/**
 * Sections others add later, printed after the ingest table. Planned: prefix-index lookup latency (p50/p99 of
 * `PrefixIndex.match` on an index fed by these events) and tokenization timings. Each returns printable lines.
 */
const extraSections: readonly { readonly name: string; run(seconds: number): Promise<string[]> }[] = [
  {
    name: "prefix-index",
    run: async () => indexFigureLines(await benchLookups(), await benchMemory(), benchApproximateFull()),
  },
  {
    name: "tokenize (ms per 8k-token prompt)",
    run: async (seconds) =>
      (await benchTokenize({ seconds: Math.min(seconds, 1) })).map(
        (r) =>
          `${r.tokenizer.padEnd(40)} ${String(r.tokens).padStart(6)} ids  ${r.msPerPrompt.toFixed(2).padStart(8)} ms`,
      ),
  },
];

function median(xs: readonly number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
}

function format(results: readonly IngestResult[]): string {
  const out = [
    "path                                                   blocks/round   cpu ms   gc ms*  wall ms   M blocks/s/core (median, min–max)",
  ];
  for (const r of results) {
    const rates = r.rounds.map(perCore);
    const cpu = median(r.rounds.map((x) => x.cpuMs));
    const wall = median(r.rounds.map((x) => x.wallMs));
    const gc = median(r.rounds.map((x) => x.gcMs));
    const m = (v: number): string => (v / 1e6).toFixed(2);
    out.push(
      `${r.label.padEnd(54)} ${String(r.rounds[0]?.blocks ?? 0).padStart(12)} ${cpu.toFixed(0).padStart(8)} ${gc.toFixed(0).padStart(7)} ` +
        `${wall.toFixed(0).padStart(9)}   ${m(median(rates))} (${m(Math.min(...rates))}–${m(Math.max(...rates))})` +
        (r.evictions === undefined ? "" : `  evictions ${r.evictions}`),
    );
  }
  out.push(
    "* gc ms: main-thread GC pauses in wall time (a loaded machine stretches them); not a share of cpu ms",
  );
  return out.join("\n");
}

function goalRow(o: IngestOptions, full: IngestResult, noop: IngestResult, hashOnly: IngestResult): GoalRow {
  const rates = full.rounds.map(perCore);
  const noopRate = median(noop.rounds.map(perCore));
  const hashRate = median(hashOnly.rounds.map(perCore));
  return {
    measure:
      `KV block events/s per core of the ingesting process: engine child PUB → zmq → PodSubscriber → decode → ` +
      `event index (+ speculative listener, as kvroute wires it) at its ${o.bound}-block bound (evicting), ` +
      `fresh ${o.blocksPerEvent}×16 BlockStored`,
    goal: GOAL_PER_CORE / 1e6,
    direction: "at-least",
    measured: median(rates) / 1e6,
    unit: "M/s",
    spread: `${(Math.min(...rates) / 1e6).toFixed(2)}–${(Math.max(...rates) / 1e6).toFixed(2)} over ${rates.length} rounds`,
    note:
      `same path into a counting sink (no index): ${(noopRate / 1e6).toFixed(2)} M/s per core, into a sink that ` +
      `only computes the key chain: ${(hashRate / 1e6).toFixed(2)} M/s per core; ` +
      `evictions in the measured rounds: ${full.evictions ?? "n/a"}. Bytes per indexed block: bench/kv-index.ts.`,
  };
}

/** Entry point. */
export async function runKv(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: {
      bound: { type: "string", default: "2000000" },
      rounds: { type: "string", default: "5" },
      "round-blocks": { type: "string", default: "500000" },
      "blocks-per-event": { type: "string", default: "128" },
      "skip-index-figures": { type: "boolean", default: false },
      seconds: { type: "string", default: "1" },
    },
  });
  const o: IngestOptions = {
    bound: Number(values.bound),
    rounds: Number(values.rounds),
    roundBlocks: Number(values["round-blocks"]),
    blocksPerEvent: Number(values["blocks-per-event"]),
  };
  const seconds = Number(values.seconds);
  if (
    ![o.bound, o.rounds, o.roundBlocks, o.blocksPerEvent, seconds].every((v) => Number.isInteger(v) && v > 0)
  ) {
    process.stderr.write(`usage: npm run bench -- ${KV_USAGE}\n`);
    return 2;
  }
  const hasher = await benchHasher();
  const full = await ingestIndex(o, hasher);
  const noop = await ingestNoop(o);
  const hashOnly = await ingestHashOnly(o, hasher);
  const floor = await ingestFloor(o);
  const split = await ingestSplit(o, hasher);
  process.stdout.write(`${format([full, noop, hashOnly, floor, ...split])}\n\n`);
  const rows = [goalRow(o, full, noop, hashOnly)];
  process.stdout.write(formatGoalTable("kv ingest", rows));
  if (!values["skip-index-figures"])
    for (const s of extraSections)
      process.stdout.write(`\n[${s.name}]\n${(await s.run(seconds)).join("\n")}\n`);
  return goalExitCode(rows);
}
