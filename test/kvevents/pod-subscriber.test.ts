import { PodSubscriber } from "../../src/kvevents";
import { MAX_KV_MESSAGE_BYTES } from "../../src/kvevents/replay";
import type { KvEventsObserver, PodSubscriberOptions, ResyncReason } from "../../src/kvevents";
import { FakeVllmPublisher, LAYOUTS, fixtureFrames } from "./fake-vllm-publisher";
import { RecordingSink, until } from "./support";

const POD = "default/vllm-0";
const frames = fixtureFrames("release_map");
const payload = (i: number): Buffer => frames[i]!.payload;
const PROBE = payload(2); // AllBlocksCleared

let pub: FakeVllmPublisher | undefined;
let sub: PodSubscriber | undefined;

afterEach(async () => {
  await sub?.close();
  await pub?.close();
  sub = undefined;
  pub = undefined;
});

/** Observer that records everything it is told. */
function recordingObserver() {
  const seen = {
    gaps: 0,
    replays: [] as string[],
    resyncs: [] as ResyncReason[],
    decodeErrors: [] as string[],
    connects: 0,
  };
  const observer: KvEventsObserver = {
    onGap: () => seen.gaps++,
    onReplay: (_p, r) => seen.replays.push(r),
    onResync: (_p, r) => seen.resyncs.push(r),
    onDecodeError: (_p, r) => seen.decodeErrors.push(r),
    onConnect: () => seen.connects++,
  };
  return { seen, observer };
}

/** Start a publisher and a subscriber, wait until the subscription is live and every probe was consumed. */
async function setup(
  opts: { bufferSteps?: number } & Partial<Omit<PodSubscriberOptions, "sink" | "podKey">> = {},
) {
  pub = await FakeVllmPublisher.start(
    opts.bufferSteps === undefined ? {} : { bufferSteps: opts.bufferSteps },
  );
  const sink = new RecordingSink();
  const rec = recordingObserver();
  const p = pub;
  sub = new PodSubscriber({
    podKey: POD,
    ip: "127.0.0.1",
    pubPort: p.pubPort,
    replayPort: p.replayPort,
    sink,
    observer: rec.observer,
    replayTimeoutMs: 1000,
    settleMs: 600_000, // no `settle` check replay unless a test asks: replay counts stay exact
    ...opts,
  });
  const s = sub;
  // Live delivery proves the subscription reached the engine (a replay on connect may apply probes before it).
  await p.probeUntil(PROBE, () => s.status().received > 0);
  await until(() => s.status().lastSeq === p.nextSeq - 1n && !s.status().replaying, "probes consumed");
  sink.reset();
  // Probes lost to the slow joiner may have been replayed as a gap: tests count gaps from here.
  rec.seen.gaps = 0;
  const gaps0 = s.status().gaps;
  return { pub: p, sub: s, sink, seen: rec.seen, gapsSince: () => s.status().gaps - gaps0 };
}

describe("PodSubscriber", () => {
  it.each(LAYOUTS)("applies %s batches in order with exact hashes", async (layout) => {
    const { pub, sub, sink, seen, gapsSince } = await setup();
    for (const f of fixtureFrames(layout)) await pub.publish(f.payload);
    await sink.waitFor((c) => c.length === 6);
    expect(sink.ops()).toEqual(["stored", "removed", "cleared", "stored", "stored", "removed"]);
    expect(sink.calls[0]).toEqual({
      op: "stored",
      pod: POD,
      hashes: [3236607068019569386n, 2758186210834249151n],
      parent: undefined,
      tokens: 32,
      lora: undefined,
    });
    expect(sink.calls[3]).toMatchObject({ parent: 426223330554082776n, lora: "sql-lora" });
    const st = sub.status();
    expect(st.lastSeq).toBe(pub.nextSeq - 1n);
    expect([gapsSince(), st.resyncs, st.decodeErrors]).toEqual([0, 0, 0]);
    expect(st.connected).toBe(true);
    expect(sub.publishing()).toBe(true);
    expect(seen.connects).toBeGreaterThanOrEqual(1);
  });

  it("replays dropped batches and applies them in order", async () => {
    const { pub, sub, sink, seen, gapsSince } = await setup();
    const before = pub.nextSeq;
    await pub.publish(payload(0), { skip: true });
    await pub.publish(payload(1), { skip: true });
    await pub.publish(payload(3));
    await sink.waitFor((c) => c.length === 3);
    await pub.publish(payload(4));
    await sink.waitFor((c) => c.length === 5);
    expect(sink.ops()).toEqual(["stored", "removed", "stored", "stored", "removed"]);
    // The gap's replay starts at the last applied batch (its bytes prove the same engine).
    expect(pub.replayRequests.at(-1)).toBe(before - 1n);
    expect(seen).toMatchObject({ gaps: 1, resyncs: [] });
    expect(seen.replays.at(-1)).toBe("ok");
    const st = sub.status();
    expect([gapsSince(), st.resyncs, st.state]).toEqual([1, 0, "live"]);
    // The triggering batch came in the replay too (probes replayed on connect may add live copies of their own).
    expect(st.duplicates).toBeGreaterThanOrEqual(1);
    expect(st.lastSeq).toBe(pub.nextSeq - 1n);
    expect(sub.publishing()).toBe(true);
  });

  it("drops the pod when the gap is older than the replay buffer, then keeps the tail", async () => {
    const { pub, sub, sink, seen, gapsSince } = await setup({ bufferSteps: 2 });
    await pub.publish(payload(0), { skip: true });
    await pub.publish(payload(1), { skip: true });
    await pub.publish(payload(2), { skip: true });
    await pub.publish(payload(3));
    await sink.waitFor((c) => c.some((x) => x.op === "stored"));
    await until(() => seen.replays.at(-1) === "partial", "replay outcome");
    // Buffer held only seq n-2 (AllBlocksCleared) and n-1 (BlockStored): drop first, then the tail.
    expect(sink.ops()).toEqual(["drop", "cleared", "stored"]);
    expect(seen.resyncs).toEqual(["gap-uncovered"]);
    expect(sub.status()).toMatchObject({ resyncs: 1, lastSeq: pub.nextSeq - 1n });
    expect(gapsSince()).toBe(1);
    await pub.publish(payload(1));
    await sink.waitFor((c) => c.length === 4);
    expect(sink.ops().slice(3)).toEqual(["removed"]);
  });

  it("drops the pod when a gap's replay times out, follows the live stream, and rebuilds on the retry", async () => {
    const { pub, sub, sink, seen } = await setup({
      replayTimeoutMs: 200,
      retryBackoff: { initialMs: 50, maxMs: 50 },
    });
    pub.muteReplay = true;
    const requests = pub.replayRequests.length;
    await pub.publish(payload(1), { skip: true });
    await pub.publish(payload(0));
    await sink.waitFor((c) => c.length === 2);
    expect(sink.ops()).toEqual(["drop", "stored"]);
    expect(seen.resyncs).toEqual(["replay-timeout"]);
    expect(seen.replays.at(-1)).toBe("timeout");
    expect(sub.status().state).toBe("resync-pending");
    expect(sub.publishing()).toBe(true); // the live stream put something in the index
    await until(() => pub.replayRequests.length >= requests + 2, "a retry");
    pub.muteReplay = false;
    await until(() => sub.status().state === "live", "a retry that succeeds");
    // The rebuild replaced the live-followed index with the engine's ordered buffer (from 0).
    expect(pub.replayRequests.at(-1)).toBe(0n);
    expect(sink.ops().slice(2, 3)).toEqual(["drop"]);
    expect(sink.ops().filter((o) => o === "removed").length).toBe(1);
    expect(sub.status()).toMatchObject({ resyncs: 1, lastSeq: pub.nextSeq - 1n });
  });

  it("treats a sequence going backwards as an engine restart", async () => {
    const { pub, sub, sink, seen, gapsSince } = await setup();
    await pub.publish(payload(0));
    await sink.waitFor((c) => c.length === 1);
    pub.restart();
    await pub.publish(payload(1));
    await sink.waitFor((c) => c.length === 3);
    expect(sink.ops()).toEqual(["stored", "drop", "removed"]);
    expect(seen.resyncs).toEqual(["restart"]);
    expect(sub.status()).toMatchObject({ lastSeq: 0n, resyncs: 1 });
    expect(gapsSince()).toBe(0);
  });

  it("reconnects to a restarted engine on the same ports: a restart, then its history from 0 (seq back to 0)", async () => {
    const { pub: old, sub, sink, seen } = await setup({ backoff: { initialMs: 20, maxMs: 200 } });
    for (let i = 0; i < 50; i++) await old.publish(payload(1));
    await sink.waitFor((c) => c.length === 50);
    const { pubPort, replayPort } = old;
    await old.close();
    await until(() => !sub.status().connected, "disconnect seen");
    expect(sub.publishing()).toBe(false);
    const fresh = await FakeVllmPublisher.start({ pubPort, replayPort });
    pub = fresh;
    sink.reset();
    await fresh.probeUntil(PROBE, () => sink.ops().includes("cleared"));
    expect(sink.ops()[0]).toBe("drop");
    expect(seen.resyncs).toEqual(["restart"]);
    expect(sub.status().lastSeq).toBeLessThan(50n);
    expect(seen.connects).toBeGreaterThanOrEqual(2);
  });

  it("drops the pod on reconnect even when the restarted engine is already past the old sequence", async () => {
    const { pub: old, sub, sink, seen } = await setup({ backoff: { initialMs: 20, maxMs: 200 } });
    for (let i = 0; i < 5; i++) await old.publish(payload(1));
    await sink.waitFor((c) => c.length === 5);
    const { pubPort, replayPort } = old;
    await old.close();
    await until(() => !sub.status().connected, "disconnect seen");
    const fresh = await FakeVllmPublisher.start({ pubPort, replayPort });
    pub = fresh;
    fresh.nextSeq = 1000n; // a sequence number gives no hint that this is a new engine
    void fresh.publish(PROBE); // buffered before the subscriber can reconnect: its buffer starts past the anchor
    sink.reset();
    await fresh.probeUntil(PROBE, () => sink.ops().includes("cleared"));
    expect(sink.ops()[0]).toBe("drop");
    expect(seen.resyncs).toEqual(["gap-uncovered"]);
  });

  it("counts malformed payloads and frames, keeps the connection and applies later events", async () => {
    const { pub, sub, sink, seen, gapsSince } = await setup();
    await pub.publish(Buffer.from("93cb41d9", "hex"));
    await pub.publish(Buffer.from([0xc1]));
    await pub.sendRaw([Buffer.from("kv-events"), Buffer.from("short")]);
    await pub.publish(payload(0));
    await sink.waitFor((c) => c.length === 1);
    expect(sink.ops()).toEqual(["stored"]);
    expect(seen.decodeErrors).toEqual(["msgpack", "msgpack", "frames"]);
    expect(sub.status()).toMatchObject({ decodeErrors: 3, resyncs: 0, lastSeq: pub.nextSeq - 1n });
    expect(gapsSince()).toBe(0);
    expect(sub.publishing()).toBe(true);
  });

  it("counts hostile payloads (nesting 100 000 deep, nested claims of 65 535 elements) and applies later events", async () => {
    const { pub, sub, sink, seen } = await setup();
    // `[1, [["BlockStored", [1], nil, [], 16, nil, nil, nil, <extra keys>]]]`, the extra keys hostile.
    const head = [0x92, 0x01, 0x91, 0x99, 0xab, ...Buffer.from("BlockStored"), 0x91, 0x01, 0xc0, 0x90, 0x10];
    const stored = (extra: number[]): Buffer => Buffer.from([...head, 0xc0, 0xc0, 0xc0, ...extra, 0xc0]);
    await pub.publish(stored(new Array<number>(100_000).fill(0x91)));
    await pub.publish(stored(Array.from({ length: 1500 }, () => [0xdc, 0xff, 0xff]).flat()));
    await pub.publish(payload(0));
    await sink.waitFor((c) => c.length === 1);
    expect(sink.ops()).toEqual(["stored"]);
    expect(seen.decodeErrors).toEqual(["msgpack", "msgpack"]);
    expect(sub.status()).toMatchObject({ decodeErrors: 2, lastSeq: pub.nextSeq - 1n });
  });

  it("refuses a message part over the 64 MiB bound at the socket: never decoded, and later events still apply", async () => {
    const { pub, sub, sink } = await setup({ replayTimeoutMs: 500 });
    // libzmq drops the connection of a peer that sends a part over the bound, before any of it reaches kvroute, and
    // does not reconnect after such a protocol error: the subscriber must see that and build a new socket.
    await pub.publish(Buffer.alloc(MAX_KV_MESSAGE_BYTES + 1, 0xc0));
    await pub.probeUntil(payload(0), () => sink.calls.some((c) => c.op === "stored"), 15_000);
    expect(sub.status()).toMatchObject({ decodeErrors: 0, connected: true });
    expect(sub.status().socketErrors).toBeGreaterThanOrEqual(1);
  });

  // Whether a burst outruns the sink depends on how the publisher's sends and the subscriber's receives interleave
  // on one event loop (both are in this process), so an overflow cannot be forced here. What must hold either way:
  // the queue never exceeds its bound, and every batch is applied — live, or recovered by the replay a drop leads
  // to. The drop itself is tested deterministically in live-queue.test.ts, gap recovery in sequencer.test.ts and
  // replay-recovery.test.ts. A round is five times the queue's bound: the first round overflowed every time
  // (23 to 31 of its 40 batches dropped, then replayed; 5 to 11 of 20 in rounds half as long), and each batch costs
  // the busy sink 3 ms of CPU.
  it("bounds the queue behind a slow sink; whatever overflowed is recovered by replay", async () => {
    const { pub, sub, sink } = await setup({ queueLimit: 8 });
    const ROUND = 40;
    sink.delayMs = 3;
    let maxQueued = 0;
    let published = 0;
    const sampler = setInterval(() => (maxQueued = Math.max(maxQueued, sub.status().queued)), 1);
    try {
      for (let round = 0; round < 5 && sub.status().queueDrops === 0; round++) {
        for (let i = 0; i < ROUND; i++) await pub.publish(payload(0));
        published += ROUND;
        await until(
          () => sub.status().lastSeq === pub.nextSeq - 1n && !sub.status().replaying,
          "caught up",
          15000,
        );
      }
    } finally {
      clearInterval(sampler);
    }
    const st = sub.status();
    expect(maxQueued).toBeLessThanOrEqual(8);
    // A dropped batch is a gap, and the gap a replay.
    if (st.queueDrops > 0) expect(st.gaps).toBeGreaterThan(0);
    // Every batch was applied (replayed or live), or the pod was dropped and resynced on overflow.
    const stored = sink.calls.filter((c) => c.op === "stored").length;
    if (st.resyncs === 0) expect(stored).toBe(published);
    else expect(sink.ops()).toContain("drop");
  }, 60000);
});
