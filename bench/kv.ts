/**
 * `npm run bench -- kv [--seconds N] [--messages N]`: how many vLLM KV events one core ingests.
 *
 * Two payload kinds: `fixture` (the five real release-layout batches of the shared fixture, cycled: ~1.2 small
 * events per batch) and `prefill` (one BlockStored of 128 blocks × 16 tokens with uint64 hashes, as a 2k-token
 * prefill produces). Three phases per kind, each reporting events per CPU-second of this process:
 * - `decode`: `decodeBatch` only (the baseline of the ratios);
 * - `decode+apply`: decode and apply to a counting sink (what the subscriber does per message);
 * - `decode+index`: decode and apply to kvroute's real event index (hash chains from token ids, LRU bound);
 * - `zmq-recv`: a real PUB in a child process (the engine) → a bare zeromq SUB that only counts messages: the
 *   floor of zeromq.js's per-message cost (events counted as the batches carry them);
 * - `zmq`: the same engine child → the real `PodSubscriber` over loopback TCP (receive, queue, sequence
 *   tracking, decode, apply). Only this process's CPU is counted.
 *
 * Then: prefix lookup latency for 1k/8k/32k/128k-token prompts next to a plain-Set floor, heap bytes per indexed
 * block (both indexes), and tokenization ms per 8k-token prompt per tokenizer.
 *
 * @module
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import path from "node:path";
import { createInterface } from "node:readline";
import { parseArgs } from "node:util";
import { encode } from "@msgpack/msgpack";
import { Subscriber } from "zeromq";
import { PodSubscriber, decodeBatch, isDecodeError } from "../src/kvevents";
import type { KvEventSink } from "../src/prefix/prefix-index";
import { createBlockHasher } from "../src/prefix/block-hasher";
import type { BlockHasher } from "../src/prefix/block-key";
import { createEventIndex } from "../src/prefix/event-index";
import { benchApproximateFull, benchLookups, benchMemory, indexFigureLines } from "./kv-index";
import { benchTokenize } from "./tokenize";

/** Usage text of this benchmark. */
export const KV_USAGE = "kv [--seconds N=1.5] [--messages N=200000]";

/** One result row. */
interface Row {
  readonly payload: string;
  readonly phase: string;
  readonly events: number;
  readonly cpuMs: number;
  readonly wallMs: number;
}

/** A counting sink: the cheapest possible index. */
class CountingSink implements KvEventSink {
  events = 0;
  blockStored(): void {
    this.events++;
  }
  blockRemoved(): void {
    this.events++;
  }
  allBlocksCleared(): void {
    this.events++;
  }
  dropPod(): void {}
}

function fixturePayloads(): Buffer[] {
  const file = path.join(__dirname, "../test/kvevents/fixtures/vllm-kv-events-frames.json");
  const json = JSON.parse(readFileSync(file, "utf8")) as {
    variants: { release_map: { frames: { payload_hex: string }[] } };
  };
  return json.variants.release_map.frames.map((f) => Buffer.from(f.payload_hex, "hex"));
}

function prefillPayload(): Buffer {
  const blocks = 128;
  const hashes = Array.from(
    { length: blocks },
    (_, i) => (0x9e3779b97f4a7c15n * BigInt(i + 1)) & 0xffffffffffffffffn,
  );
  const tokens = Array.from({ length: blocks * 16 }, (_, i) => (i * 7919) % 151_000);
  const ev = {
    type: "BlockStored",
    block_hashes: hashes,
    parent_block_hash: null,
    token_ids: tokens,
    block_size: 16,
    lora_id: null,
    medium: "GPU",
    lora_name: null,
    extra_keys: new Array<null>(blocks).fill(null),
    group_idx: 0,
    kv_cache_spec_kind: "full_attention",
  };
  return Buffer.from(encode([1700000000.5, [ev], 0], { useBigInt64: true }));
}

function cpuMs(since: NodeJS.CpuUsage): number {
  const d = process.cpuUsage(since);
  return (d.user + d.system) / 1000;
}

/** Run `step` repeatedly for `seconds`; returns events and CPU. */
function timed(payloadName: string, phase: string, seconds: number, step: () => number): Row {
  for (let i = 0; i < 200; i++) step(); // warm-up (JIT)
  const t0 = performance.now();
  const c0 = process.cpuUsage();
  let events = 0;
  while (performance.now() - t0 < seconds * 1000) for (let i = 0; i < 50; i++) events += step();
  return { payload: payloadName, phase, events, cpuMs: cpuMs(c0), wallMs: performance.now() - t0 };
}

function decodeOnly(payloads: Buffer[]): () => number {
  let i = 0;
  return () => {
    const b = decodeBatch(payloads[i++ % payloads.length]!);
    return isDecodeError(b) ? 0 : b.events.length;
  };
}

function decodeApply(payloads: Buffer[]): () => number {
  const sink = new CountingSink();
  let i = 0;
  return () => {
    const b = decodeBatch(payloads[i++ % payloads.length]!);
    if (isDecodeError(b)) return 0;
    for (const ev of b.events) {
      if (ev.tag === "BlockStored") sink.blockStored();
      else if (ev.tag === "BlockRemoved") sink.blockRemoved();
      else sink.allBlocksCleared();
    }
    return b.events.length;
  };
}

/** Decode and apply to the real event index (its own key chains computed from each event's token ids). */
function decodeIndex(payloads: Buffer[], hasher: BlockHasher): () => number {
  const index = createEventIndex({ hasher, maxBlocks: 2_000_000 });
  let i = 0;
  return () => {
    const b = decodeBatch(payloads[i++ % payloads.length]!);
    if (isDecodeError(b)) return 0;
    for (const ev of b.events) {
      if (ev.tag === "BlockStored") {
        index.blockStored("default/pod-0", {
          blockHashes: ev.blockHashes,
          parentBlockHash: ev.parentBlockHash,
          tokenIds: ev.tokenIds,
          blockSize: ev.blockSize,
          loraName: ev.loraName,
        });
      } else if (ev.tag === "BlockRemoved") index.blockRemoved("default/pod-0", ev.blockHashes);
      else index.allBlocksCleared("default/pod-0");
    }
    return b.events.length;
  };
}

/** The engine: a child process with a PUB socket that probes until told to go, then sends `n` batches. */
const CHILD = `
const zmq = require("zeromq");
const readline = require("node:readline");
(async () => {
  const payloads = process.argv[1].split(",").map((h) => Buffer.from(h, "hex"));
  const probe = Buffer.from(process.argv[2], "hex");
  const n = Number(process.argv[3]);
  const pub = new zmq.Publisher({ linger: 0, sendHighWaterMark: 0 });
  await pub.bind("tcp://127.0.0.1:0");
  console.log("READY " + pub.lastEndpoint.split(":").pop());
  let seq = 0n, go = false;
  const seq8 = () => { const b = Buffer.alloc(8); b.writeBigUInt64BE(seq++); return b; };
  const topic = Buffer.from("kv-events");
  readline.createInterface({ input: process.stdin }).on("line", () => (go = true));
  while (!go) { await pub.send([topic, seq8(), probe]); await new Promise((r) => setTimeout(r, 10)); }
  for (let i = 0; i < n; i++) await pub.send([topic, seq8(), payloads[i % payloads.length]]);
  console.log("DONE " + (seq - 1n));
  await new Promise((r) => process.stdin.once("end", r));
  pub.close();
})();
`;

/** Start the engine child; resolves with its port, a line waiter and the child. */
async function startEngine(payloads: Buffer[], probe: Buffer, messages: number) {
  const hex = payloads.map((p) => p.toString("hex")).join(",");
  const child = spawn(process.execPath, ["-e", CHILD, hex, probe.toString("hex"), String(messages)], {
    cwd: path.join(__dirname, ".."),
    stdio: ["pipe", "pipe", "inherit"],
  });
  const lines = createInterface({ input: child.stdout });
  const next = (prefix: string): Promise<string> =>
    new Promise((resolve) => {
      const on = (l: string): void => {
        if (!l.startsWith(prefix)) return;
        lines.off("line", on);
        resolve(l.slice(prefix.length));
      };
      lines.on("line", on);
    });
  const port = Number(await next("READY "));
  return { child, next, port };
}

const tick = (): Promise<void> => new Promise((r) => setImmediate(r));

/** Baseline of the ZeroMQ path: a bare SUB socket that only counts messages (zeromq.js's own cost). */
async function zmqReceiveOnly(
  payloadName: string,
  payloads: Buffer[],
  probe: Buffer,
  messages: number,
): Promise<Row> {
  const { child, next, port } = await startEngine(payloads, probe, messages);
  const sub = new Subscriber({ linger: 0 });
  sub.connect(`tcp://127.0.0.1:${port}`);
  sub.subscribe();
  try {
    await sub.receive(); // the subscription is live once a probe arrives
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    let last: bigint | undefined;
    void next("DONE ").then((v) => (last = BigInt(v)));
    child.stdin.write("go\n");
    sub.receiveTimeout = 100; // DONE may be read after the last message arrived
    let seen: bigint | undefined;
    while (last === undefined || seen !== last) {
      try {
        seen = (await sub.receive())[1]?.readBigUInt64BE(0);
      } catch {
        // receive timeout: re-check whether the last sequence is known
      }
    }
    // Events as the batches carry them (the fixture cycle holds 6 events per 5 batches).
    const events = Math.round(messages * (payloads.length === 1 ? 1 : 6 / 5));
    return {
      payload: payloadName,
      phase: "zmq-recv",
      events,
      cpuMs: cpuMs(c0),
      wallMs: performance.now() - t0,
    };
  } finally {
    sub.close();
    child.stdin.end();
  }
}

/** The full path: engine child → real `PodSubscriber` → counting sink. */
async function viaZmq(
  payloadName: string,
  payloads: Buffer[],
  probe: Buffer,
  messages: number,
): Promise<Row> {
  const { child, next, port } = await startEngine(payloads, probe, messages);
  const sink = new CountingSink();
  const sub = new PodSubscriber({
    podKey: "bench/pod",
    ip: "127.0.0.1",
    pubPort: port,
    replayPort: port + 1,
    sink,
    queueLimit: 100_000,
  });
  try {
    while (sink.events === 0) await new Promise((r) => setTimeout(r, 5));
    const before = sink.events;
    const done = next("DONE ");
    const c0 = process.cpuUsage();
    const t0 = performance.now();
    child.stdin.write("go\n");
    const last = BigInt(await done);
    while (sub.status().lastSeq !== last && performance.now() - t0 < 30_000) await tick();
    const events = sink.events - before;
    const row = {
      payload: payloadName,
      phase: "zmq",
      events,
      cpuMs: cpuMs(c0),
      wallMs: performance.now() - t0,
    };
    const st = sub.status();
    if (st.gaps + st.queueDrops + st.decodeErrors > 0)
      process.stdout.write(
        `  (zmq ${payloadName}: gaps=${st.gaps} drops=${st.queueDrops} errors=${st.decodeErrors})\n`,
      );
    return row;
  } finally {
    await sub.close();
    child.stdin.end();
  }
}

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

function format(rows: readonly Row[]): string {
  const perCore = (r: Row): number => r.events / (r.cpuMs / 1000);
  const base = new Map(rows.filter((r) => r.phase === "decode").map((r) => [r.payload, perCore(r)]));
  const out = ["payload  phase          events     cpu ms   wall ms   events/s/core   vs decode"];
  for (const r of rows) {
    const ratio = perCore(r) / (base.get(r.payload) ?? NaN);
    out.push(
      `${r.payload.padEnd(8)} ${r.phase.padEnd(13)} ${String(r.events).padStart(8)} ${r.cpuMs.toFixed(0).padStart(9)} ` +
        `${r.wallMs.toFixed(0).padStart(9)} ${perCore(r).toFixed(0).padStart(15)} ${ratio.toFixed(2).padStart(10)}`,
    );
  }
  return out.join("\n");
}

/** Entry point. */
export async function runKv(argv: readonly string[]): Promise<number> {
  const { values } = parseArgs({
    args: [...argv],
    options: { seconds: { type: "string", default: "1.5" }, messages: { type: "string", default: "200000" } },
  });
  const seconds = Number(values.seconds);
  const messages = Number(values.messages);
  if (!(seconds > 0) || !(messages > 0)) {
    process.stderr.write(`usage: npm run bench -- ${KV_USAGE}\n`);
    return 2;
  }
  const fixture = fixturePayloads();
  const hasher = await createBlockHasher(0n);
  const kinds: [string, Buffer[], number][] = [
    ["fixture", fixture, messages],
    ["prefill", [prefillPayload()], Math.ceil(messages / 20)],
  ];
  const rows: Row[] = [];
  for (const [name, payloads, n] of kinds) {
    rows.push(timed(name, "decode", seconds, decodeOnly(payloads)));
    rows.push(timed(name, "decode+apply", seconds, decodeApply(payloads)));
    rows.push(timed(name, "decode+index", seconds, decodeIndex(payloads, hasher)));
    rows.push(await zmqReceiveOnly(name, payloads, fixture[2]!, n));
    rows.push(await viaZmq(name, payloads, fixture[2]!, n));
  }
  process.stdout.write(`${format(rows)}\n`);
  for (const s of extraSections)
    process.stdout.write(`\n[${s.name}]\n${(await s.run(seconds)).join("\n")}\n`);
  return 0;
}
