/**
 * KV-event ingest figures for `npm run bench -- kv`, counted in BLOCK events (a `BlockStored` of 128 blocks is 128)
 * per CPU-second of the ingesting process (`process.cpuUsage()`: user + system, every thread, so libzmq's I/O thread
 * and the GC count too). Every payload is fresh (`kv-fresh.ts`): each block is an insert, never a touch.
 *
 * Full path: the engine is a child process (`kv-engine.ts`: vLLM's PUB + ROUTER replay on loopback); kvroute's own
 * `PodSubscriber` (SUB socket, live queue, sequencer, decode, apply) runs in THIS process with either kvroute's event
 * index as kvroute wires it (with the speculative index listening) at its bound (filled first, so every measured
 * insert evicts) or a sink that only counts blocks (what is not the index's). The engine publishes in windows and waits until the subscriber has applied the window's last
 * sequence, so the bounded live queue never overflows (no drop, no gap, no replay in a measured round; checked).
 * A floor row receives the same messages on a bare zeromq SUB socket that only counts them (zeromq.js's own cost).
 *
 * In-process split (no sockets, same fresh payloads stamped in place): decode only, decode + the index's hash
 * chain, decode + apply into the index at its bound.
 *
 * @module
 */
import { forkCompiled } from "./compiled";
import type { ChildProcess } from "node:child_process";
import { PerformanceObserver } from "node:perf_hooks";
import { setImmediate as tick } from "node:timers/promises";
import { Subscriber } from "zeromq";
import { PodSubscriber, decodeBatch, isDecodeError } from "../src/kvevents";
import { applyBatch } from "../src/kvevents/apply-batch";
import type { ApplyTarget } from "../src/kvevents/apply-batch";
import { newPodCounters } from "../src/kvevents/pod-counters";
import { gpuGroupZero } from "../src/kvevents/types";
import { createBlockHasher } from "../src/prefix/block-hasher";
import type { BlockHasher } from "../src/prefix/block-key";
import { createEventIndex } from "../src/prefix/event-index";
import type { EventIndex } from "../src/prefix/event-index";
import { createSpeculativeIndex } from "../src/prefix/speculative-index";
import type { KvEventSink, StoredBlocks } from "../src/prefix/prefix-index";
import type { EngineCommand, EngineReply } from "./kv-engine";
import { freshTemplate, stampFresh } from "./kv-fresh";
import type { FreshTemplate } from "./kv-fresh";

/** Sizes of one ingest run. */
export interface IngestOptions {
  /** Event-index bound in blocks (kvroute's `--kv-events-max-blocks`, default 2 000 000). */
  readonly bound: number;
  /** Measured rounds (the spread is over rounds). */
  readonly rounds: number;
  /** Block events per round. */
  readonly roundBlocks: number;
  /** Blocks per `BlockStored` (tokens per block is 16). */
  readonly blocksPerEvent: number;
}

/** One measured round. */
export interface IngestRound {
  readonly blocks: number;
  readonly cpuMs: number;
  readonly wallMs: number;
  /** Main-thread GC pauses during the round (part of `cpuMs`). */
  readonly gcMs: number;
}

/** One configuration's rounds. */
export interface IngestResult {
  readonly label: string;
  readonly rounds: readonly IngestRound[];
  /** Index evictions during the measured rounds (undefined for sinks without a bound). */
  readonly evictions: number | undefined;
}

/** Block events per CPU-second of a round. */
export function perCore(r: IngestRound): number {
  return r.blocks / (r.cpuMs / 1000);
}

const BLOCK_SIZE = 16;
/** Messages per engine window: far below the live queue's bound (10 000) and libzmq's receive HWM (1000). */
const WINDOW = 256;

/** A sink that counts blocks and does nothing else: what the path costs without the index. */
class CountingSink implements KvEventSink {
  blocks = 0;
  blockStored(_pod: string, e: StoredBlocks): void {
    this.blocks += e.blockHashes.length;
  }
  blockRemoved(_pod: string, hashes: readonly bigint[]): void {
    this.blocks += hashes.length;
  }
  allBlocksCleared(): void {}
  dropPod(): void {}
}

/** A sink that computes the index's key chain for each stored event and keeps nothing: the path without storage. */
class HashingSink extends CountingSink {
  constructor(private readonly hasher: BlockHasher) {
    super();
  }
  override blockStored(pod: string, e: StoredBlocks): void {
    super.blockStored(pod, e);
    this.hasher.chain(e.tokenIds, e.blockSize, e.loraName ?? "");
  }
}

/** GC pause time of this process so far, ms (fed by an observer while a round runs). */
let gcMsTotal = 0;
const gcObserver = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMsTotal += e.duration;
});

/** Start measuring a round: CPU (all threads), wall time and GC pauses. */
function meter(): (blocks: number) => Promise<IngestRound> {
  gcObserver.observe({ entryTypes: ["gc"] });
  const gc0 = gcMsTotal;
  const c0 = process.cpuUsage();
  const t0 = performance.now();
  return async (blocks) => {
    const d = process.cpuUsage(c0);
    const wallMs = performance.now() - t0;
    await tick(); // GC entries are delivered asynchronously
    await tick();
    gcObserver.disconnect();
    return { blocks, cpuMs: (d.user + d.system) / 1000, wallMs, gcMs: gcMsTotal - gc0 };
  };
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** The engine child and its IPC. */
interface Engine {
  readonly pubPort: number;
  readonly replayPort: number;
  command(c: EngineCommand): void;
  /** Publish `count` fresh messages; resolves with the last sequence. */
  send(count: number): Promise<bigint>;
  stop(): void;
}

async function startEngine(blocksPerEvent: number): Promise<Engine> {
  const child: ChildProcess = forkCompiled("kv-engine.ts", [String(blocksPerEvent), "16"], {
    stdio: ["ignore", "inherit", "inherit", "ipc"],
  });
  const replies: ((m: EngineReply) => void)[] = [];
  child.on("message", (m: EngineReply) => replies.shift()?.(m));
  const next = (): Promise<EngineReply> => new Promise((r) => replies.push(r));
  const ready = await next();
  if (ready.t !== "ready") throw new Error("kv engine: unexpected first message");
  const command = (c: EngineCommand): void => void child.send(c);
  return {
    pubPort: ready.pubPort,
    replayPort: ready.replayPort,
    command,
    async send(count) {
      const reply = next();
      command({ t: "send", count });
      const r = await reply;
      if (r.t !== "sent") throw new Error("kv engine: unexpected reply");
      return BigInt(r.lastSeq);
    },
    stop: () => child.kill(),
  };
}

/** Full path into `sink` through a real `PodSubscriber`. */
async function viaSubscriber(
  label: string,
  o: IngestOptions,
  sink: KvEventSink,
  fillTo: () => boolean,
  evictions: () => number | undefined,
): Promise<IngestResult> {
  const engine = await startEngine(o.blocksPerEvent);
  const sub = new PodSubscriber({
    podKey: "bench/pod-0",
    ip: "127.0.0.1",
    pubPort: engine.pubPort,
    replayPort: engine.replayPort,
    sink,
  });
  const caughtUp = async (last: bigint): Promise<void> => {
    while (sub.status().lastSeq !== last) await sleep(1);
  };
  try {
    engine.command({ t: "probe" });
    while (!(sub.status().events > 0 && sub.status().state === "live")) await sleep(5);
    engine.command({ t: "stop" });
    await caughtUp(await engine.send(1));
    while (!fillTo()) await caughtUp(await engine.send(WINDOW));
    const before = sub.status();
    const ev0 = evictions();
    const rounds: IngestRound[] = [];
    const messages = Math.ceil(o.roundBlocks / o.blocksPerEvent);
    for (let r = 0; r < o.rounds; r++) {
      const e0 = sub.status().events;
      const stop = meter();
      for (let sent = 0; sent < messages; sent += WINDOW)
        await caughtUp(await engine.send(Math.min(WINDOW, messages - sent)));
      rounds.push(await stop((sub.status().events - e0) * o.blocksPerEvent));
    }
    const after = sub.status();
    const trouble = [
      "gaps",
      "queueDrops",
      "decodeErrors",
      "resyncs",
      "replays",
      "sinkErrors",
      "filtered",
    ] as const;
    for (const k of trouble)
      if (after[k] !== before[k]) throw new Error(`kv ingest ${label}: ${k} changed in a measured round`);
    const ev1 = evictions();
    return { label, rounds, evictions: ev0 === undefined || ev1 === undefined ? undefined : ev1 - ev0 };
  } finally {
    await sub.close();
    engine.stop();
  }
}

/**
 * The event index as kvroute wires it by default (`src/kv-cache-runtime.ts`): the speculative index listens to every
 * stored block (`--prefix-speculative-ttl-ms` 2000, its bounds 200 000 / 50 000 per pod).
 */
function kvrouteEventIndex(o: IngestOptions, hasher: BlockHasher): EventIndex {
  const speculative = createSpeculativeIndex({ ttlMs: 2000, maxBlocks: 200_000, maxBlocksPerPod: 50_000 });
  return createEventIndex({ hasher, maxBlocks: o.bound, listener: speculative });
}

/** The full path into kvroute's event index at its bound. */
export async function ingestIndex(o: IngestOptions, hasher: BlockHasher): Promise<IngestResult> {
  const index = kvrouteEventIndex(o, hasher);
  return viaSubscriber(
    `zmq → subscriber → event index (bound ${o.bound})`,
    o,
    index,
    () => index.size() >= o.bound && index.evictions() > 0,
    () => index.evictions(),
  );
}

/** The full path into a counting sink (everything but the index). */
export async function ingestNoop(o: IngestOptions): Promise<IngestResult> {
  return viaSubscriber(
    "zmq → subscriber → counting sink",
    o,
    new CountingSink(),
    () => true,
    () => undefined,
  );
}

/** The full path into a sink that only hashes (the index's key chain without its storage). */
export async function ingestHashOnly(o: IngestOptions, hasher: BlockHasher): Promise<IngestResult> {
  return viaSubscriber(
    "zmq → subscriber → hash-only sink",
    o,
    new HashingSink(hasher),
    () => true,
    () => undefined,
  );
}

/** Floor: the same messages on a bare SUB socket that counts them (no queue, no decode, no index). */
export async function ingestFloor(o: IngestOptions): Promise<IngestResult> {
  const engine = await startEngine(o.blocksPerEvent);
  const sub = new Subscriber({ linger: 0 });
  let received = 0;
  let lastSeq = -1n;
  sub.connect(`tcp://127.0.0.1:${engine.pubPort}`);
  sub.subscribe();
  const loop = (async () => {
    for await (const [, seq] of sub) {
      received++;
      lastSeq = seq?.readBigUInt64BE(0) ?? lastSeq;
    }
  })().catch(() => undefined);
  const caughtUp = async (last: bigint): Promise<void> => {
    while (lastSeq !== last) await sleep(1);
  };
  try {
    engine.command({ t: "probe" });
    while (received === 0) await sleep(5);
    engine.command({ t: "stop" });
    await caughtUp(await engine.send(1));
    const rounds: IngestRound[] = [];
    const messages = Math.ceil(o.roundBlocks / o.blocksPerEvent);
    for (let r = 0; r < o.rounds; r++) {
      const m0 = received;
      const stop = meter();
      for (let sent = 0; sent < messages; sent += WINDOW)
        await caughtUp(await engine.send(Math.min(WINDOW, messages - sent)));
      rounds.push(await stop((received - m0) * o.blocksPerEvent));
    }
    return { label: "zmq → bare SUB (floor: receive only)", rounds, evictions: undefined };
  } finally {
    sub.close();
    await loop;
    engine.stop();
  }
}

/** Run `step(n)` for fresh message numbers until `roundBlocks` blocks per round; `rounds` rounds. */
async function inProcess(
  label: string,
  o: IngestOptions,
  step: (payload: Buffer) => void,
): Promise<IngestResult> {
  const t: FreshTemplate = freshTemplate(o.blocksPerEvent, BLOCK_SIZE);
  const payload = Buffer.from(t.bytes);
  let n = 1 << 30; // distinct from the full-path runs' numbers (another index, but keep them apart anyway)
  const messages = Math.ceil(o.roundBlocks / o.blocksPerEvent);
  const rounds: IngestRound[] = [];
  for (let r = 0; r < o.rounds; r++) {
    const stop = meter();
    for (let i = 0; i < messages; i++) {
      stampFresh(t, payload, n++);
      step(payload);
    }
    rounds.push(await stop(messages * o.blocksPerEvent));
  }
  return { label, rounds, evictions: undefined };
}

/** In-process split: decode; decode + hash chain; decode + apply into the index at its bound. */
export async function ingestSplit(o: IngestOptions, hasher: BlockHasher): Promise<IngestResult[]> {
  const decode = await inProcess("in-process: decode", o, (p) => {
    if (isDecodeError(decodeBatch(p))) throw new Error("fresh payload does not decode");
  });
  const hash = await inProcess("in-process: decode + hash chain", o, (p) => {
    const b = decodeBatch(p);
    if (isDecodeError(b)) throw new Error("fresh payload does not decode");
    for (const e of b.events) if (e.tag === "BlockStored") hasher.chain(e.tokenIds, e.blockSize, "");
  });
  const index = kvrouteEventIndex(o, hasher);
  const target: ApplyTarget = {
    podKey: "bench/pod-0",
    sink: index,
    filter: gpuGroupZero,
    counters: newPodCounters(),
    notify: () => undefined,
  };
  const fill = { ...o, rounds: 1, roundBlocks: o.bound + o.blocksPerEvent };
  await inProcess("fill", fill, (p) => applyBatch(target, p));
  const e0 = index.evictions();
  const applied = await inProcess("in-process: decode + apply to event index", o, (p) =>
    applyBatch(target, p),
  );
  return [decode, hash, { ...applied, evictions: index.evictions() - e0 }];
}

/** The hasher every run shares (kvroute's seed 0 by default). */
export function benchHasher(): Promise<BlockHasher> {
  return createBlockHasher(0n);
}
