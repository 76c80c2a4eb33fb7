/**
 * KV history the engine still holds is never lost: real ZeroMQ sockets against a publisher that behaves like
 * vLLM's (bounded replay buffer, answers from the requested sequence or from its oldest, END_SEQ marker).
 */
import { PodSubscriber } from "../../src/kvevents";
import type { PodSubscriberOptions, ReplayResult, ResyncReason } from "../../src/kvevents";
import { FakeVllmPublisher, fixtureFrames } from "./fake-vllm-publisher";
import { RecordingSink, until } from "./support";

const POD = "default/vllm-0";
const frames = fixtureFrames("release_map");
/** The sink calls each fixture batch makes. */
const OPS: readonly (readonly string[])[] = [
  ["stored"],
  ["removed"],
  ["cleared"],
  ["stored"],
  ["stored", "removed"],
];
const opsOf = (batches: number[]): string[] => batches.flatMap((i) => [...OPS[i]!]);

let pubs: FakeVllmPublisher[] = [];
let subs: PodSubscriber[] = [];

afterEach(async () => {
  await Promise.all(subs.map((s) => s.close()));
  await Promise.all(pubs.map((p) => p.close()));
  subs = [];
  pubs = [];
});

async function publisher(
  opts: Parameters<typeof FakeVllmPublisher.start>[0] = {},
): Promise<FakeVllmPublisher> {
  const p = await FakeVllmPublisher.start(opts);
  pubs.push(p);
  return p;
}

/** Publish fixture batches by index; `skip` buffers them for replay only (nobody receives them live). */
async function publishAll(p: FakeVllmPublisher, batches: number[], skip = false): Promise<void> {
  for (const i of batches) await p.publish(frames[i]!.payload, { skip });
}

function subscribe(p: FakeVllmPublisher, opts: Partial<PodSubscriberOptions> = {}) {
  const sink = new RecordingSink();
  const seen = { resyncs: [] as ResyncReason[], replays: [] as ReplayResult[] };
  const sub = new PodSubscriber({
    podKey: POD,
    ip: "127.0.0.1",
    pubPort: p.pubPort,
    replayPort: p.replayPort,
    sink,
    observer: { onResync: (_k, r) => seen.resyncs.push(r), onReplay: (_k, r) => seen.replays.push(r) },
    replayTimeoutMs: 1000,
    settleMs: 600_000,
    backoff: { initialMs: 20, maxMs: 200 },
    ...opts,
  });
  subs.push(sub);
  return { sub, sink, seen };
}

/**
 * A subscriber that is live (probed through ZeroMQ's slow joiner, as any subscriber could be) and has applied
 * `batches` from the live stream; its sink's calls are then forgotten.
 */
async function caughtUp(p: FakeVllmPublisher, batches: number[], opts: Partial<PodSubscriberOptions> = {}) {
  const s = subscribe(p, opts);
  await p.probeUntil(frames[2]!.payload, () => s.sub.status().received > 0);
  await publishAll(p, batches);
  await until(() => s.sub.status().lastSeq === p.nextSeq - 1n && !s.sub.status().replaying, "caught up");
  s.sink.reset();
  return s;
}

describe("KV replay (real ZeroMQ)", () => {
  it("(a) indexes every batch a publisher sent before kvroute subscribed", async () => {
    const p = await publisher();
    await publishAll(p, [0, 1, 2, 3, 4]); // nobody subscribed: PUB drops them, the engine's buffer keeps them
    const { sub, sink } = subscribe(p);
    await sink.waitFor((c) => c.length === 6);
    expect(sink.ops()).toEqual(opsOf([0, 1, 2, 3, 4]));
    expect(sink.calls[0]).toMatchObject({
      op: "stored",
      hashes: [3236607068019569386n, 2758186210834249151n],
    });
    expect(p.replayRequests[0]).toBe(0n);
    await until(() => sub.status().state === "live", "live");
    expect(sub.publishing()).toBe(true);
    await p.probeUntil(frames[0]!.payload, () => sink.calls.length > 6);
    expect(sink.ops().slice(6, 7)).toEqual(["stored"]);
  });

  it("(b) a restarted kvroute (a new subscriber) gets the publisher's whole buffer: no block lost", async () => {
    const p = await publisher();
    const first = await caughtUp(p, [0, 3]);
    await first.sub.close();
    const probes = Number(p.nextSeq) - 2;
    await publishAll(p, [4, 1]); // published while kvroute was down
    const { sub, sink, seen } = subscribe(p);
    const all = [...Array<number>(probes).fill(2), 0, 3, 4, 1];
    await sink.waitFor((c) => c.length === opsOf(all).length);
    expect(sink.ops()).toEqual(opsOf(all));
    expect(seen.resyncs).toEqual([]);
    expect(sub.status().lastSeq).toBe(p.nextSeq - 1n);
  });

  it("(c) a publisher restarted in a new process (sequence back to 0): drop, then its history from 0", async () => {
    const old = await publisher();
    const { sub, sink, seen } = await caughtUp(old, [0, 0, 0, 0, 0]);
    const { pubPort, replayPort } = old;
    await old.close();
    pubs = pubs.filter((x) => x !== old);
    await until(() => !sub.status().connected, "disconnect seen");
    sink.reset();
    const fresh = await publisher({ pubPort, replayPort });
    await publishAll(fresh, [1, 1]); // buffered before kvroute reconnects: seq 0 and 1, older than the anchor (≥ 5)
    await sink.waitFor((c) => c.length === 3);
    expect(sink.ops()).toEqual(["drop", "removed", "removed"]);
    expect(seen.resyncs).toEqual(["restart"]);
    await until(() => sub.status().state === "live", "live");
    expect(sub.status().lastSeq).toBe(1n);
  });

  it("(c) a restarted publisher already past the old sequence is told apart by the anchor's bytes", async () => {
    const old = await publisher();
    const { sub, sink, seen } = await caughtUp(old, [0, 0, 0]);
    const anchor = old.nextSeq - 1n;
    const { pubPort, replayPort } = old;
    await old.close();
    pubs = pubs.filter((x) => x !== old);
    await until(() => !sub.status().connected, "disconnect seen");
    sink.reset();
    const fresh = await publisher({ pubPort, replayPort });
    // Buffered before kvroute reconnects, up to anchor + 2: the anchor's sequence exists, with other bytes.
    const batches = Array<number>(Number(anchor) + 3).fill(1);
    await publishAll(fresh, batches);
    await sink.waitFor((c) => c.length === 1 + batches.length);
    expect(sink.ops()).toEqual(["drop", ...opsOf(batches)]);
    expect(seen.resyncs).toEqual(["restart"]);
    expect(fresh.replayRequests).toEqual([anchor, 0n]);
  });

  it("(d) a reconnect whose gap the buffer covers keeps the pod's blocks and replays the gap", async () => {
    const p = await publisher();
    const { sub, sink, seen } = await caughtUp(p, [0, 3]);
    const anchor = p.nextSeq - 1n;
    await p.reopenPub(async () => {
      await until(() => !sub.status().connected, "disconnect seen");
      expect(sub.publishing()).toBe(false);
      await publishAll(p, [4, 1, 2], true); // sent while kvroute was disconnected
    });
    await publishAll(p, [0]);
    await sink.waitFor((c) => c.length === opsOf([4, 1, 2, 0]).length);
    expect(sink.ops()).toEqual(opsOf([4, 1, 2, 0]));
    expect(seen.resyncs).toEqual([]);
    expect(p.replayRequests.at(-1)).toBe(anchor); // from the last applied batch, which proves the same engine
    await until(() => sub.status().state === "live", "live");
    expect(sub.status()).toMatchObject({ resyncs: 0, lastSeq: anchor + 4n });
  });

  it("(e) a reconnect whose gap the buffer no longer covers is a counted resync that keeps the buffered tail", async () => {
    const p = await publisher({ bufferSteps: 3 });
    const { sub, sink, seen } = await caughtUp(p, [0, 0, 0]);
    await p.reopenPub(async () => {
      await until(() => !sub.status().connected, "disconnect seen");
      await publishAll(p, [1, 2, 3, 4], true); // the buffer keeps the last 3: 2, 3, 4
    });
    await sink.waitFor((c) => c.length === 1 + opsOf([2, 3, 4]).length);
    expect(sink.ops()).toEqual(["drop", ...opsOf([2, 3, 4])]);
    expect(seen.resyncs).toEqual(["gap-uncovered"]);
    await until(() => seen.replays.includes("partial"), "partial replay reported");
    expect(sub.status().lastSeq).toBe(p.nextSeq - 1n);
  });

  it("(f) a replay timeout with an idle publisher is retried with backoff, the state says so, then it fills", async () => {
    const p = await publisher();
    p.muteReplay = true;
    await publishAll(p, [0, 3, 4]);
    const { sub, sink, seen } = subscribe(p, {
      replayTimeoutMs: 150,
      retryBackoff: { initialMs: 50, maxMs: 100 },
    });
    await until(() => p.replayRequests.length >= 3, "retries without any live traffic");
    const st = sub.status();
    expect(["resync-pending", "replaying"]).toContain(st.state);
    expect(st.replayTimeouts).toBeGreaterThanOrEqual(2);
    expect(sub.publishing()).toBe(false); // an empty index is not shown as publishing
    expect(sink.calls).toEqual([]);
    expect(seen.resyncs).toEqual([]); // nothing was indexed, nothing dropped
    await until(() => sub.status().state === "resync-pending", "between retries");
    expect(sub.status().retryInMs).toBeLessThanOrEqual(100);
    p.muteReplay = false;
    await sink.waitFor((c) => c.length === opsOf([0, 3, 4]).length);
    expect(sink.ops()).toEqual(opsOf([0, 3, 4]));
    await until(() => sub.status().state === "live", "live");
    expect(sub.publishing()).toBe(true);
  });

  it("while a retry is pending, live gaps are followed without a replay each (no timeout per gap)", async () => {
    const p = await publisher();
    p.muteReplay = true;
    const { sub, sink, seen } = subscribe(p, {
      replayTimeoutMs: 100,
      retryBackoff: { initialMs: 600_000, maxMs: 600_000 },
    });
    await until(() => sub.status().state === "resync-pending", "the connect replay timed out");
    await p.probeUntil(frames[2]!.payload, () => sink.calls.length > 0);
    await publishAll(p, [0], true); // lost live
    await publishAll(p, [3]);
    await sink.waitFor((c) => c.some((x) => x.op === "stored"));
    expect(p.replayRequests).toHaveLength(1);
    expect(sub.status()).toMatchObject({ state: "resync-pending", gaps: 1, lastSeq: p.nextSeq - 1n });
    expect(sub.publishing()).toBe(true); // what the live stream gave is used, as before replay existed
    expect(seen.resyncs).toEqual([]);
  });

  it("a batch lost to the slow joiner right after connect is found by the settle replay", async () => {
    const p = await publisher();
    const { sub, sink } = subscribe(p, { settleMs: 1000 });
    await until(() => sub.status().state === "live" && p.replayRequests.length === 1, "connect replay done");
    await publishAll(p, [0], true); // published before the subscription reached the engine: never delivered live
    await sink.waitFor((c) => c.length === 1);
    expect(sink.ops()).toEqual(["stored"]);
    expect(p.replayRequests).toEqual([0n, 0n]);
  });
});
