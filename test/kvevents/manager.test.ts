import { decode, encode } from "@msgpack/msgpack";
import { createClusterStore } from "../../src/cluster/cluster-state";
import type { ClusterStore } from "../../src/cluster/cluster-state";
import type { Pod } from "../../src/cluster/pod";
import { KV_EVENTS_LABEL, labelEnabled, startKvEvents } from "../../src/kvevents";
import type { KvEvents, KvEventsOptions } from "../../src/kvevents";
import { FakeVllmPublisher, fixtureFrames } from "./fake-vllm-publisher";
import { RecordingSink, until } from "./support";

const frames = fixtureFrames("legacy_array");
const PROBE = frames[2]!.payload;

function pod(name: string, ip: string, overrides: Partial<Pod> = {}): Pod {
  return {
    key: `default/${name}`,
    name,
    namespace: "default",
    ip,
    port: 8000,
    address: `${ip}:8000`,
    metricsPort: 8000,
    models: ["m"],
    adapters: [],
    ready: true,
    engine: "vllm",
    labels: { [KV_EVENTS_LABEL]: "true" },
    ...overrides,
  };
}

let publishers: FakeVllmPublisher[] = [];
let kv: KvEvents | undefined;

afterEach(async () => {
  await kv?.close();
  kv = undefined;
  await Promise.all(publishers.map((p) => p.close()));
  publishers = [];
});

/** `payload` (a fixture batch) re-encoded with `data_parallel_rank` = `rank`. */
function stamped(payload: Uint8Array, rank: number): Buffer {
  const batch = decode(payload, { useBigInt64: true }) as unknown[];
  return Buffer.from(encode([batch[0], batch[1], rank], { useBigInt64: true }));
}

/** Publishers of ranks 0 and 1: PUB ports p and p + 1, replay ports q and q + 1 (retried on a taken port). */
async function publisherPair(): Promise<[FakeVllmPublisher, FakeVllmPublisher]> {
  for (let attempt = 0; ; attempt++) {
    const r0 = await publisher();
    try {
      const r1 = await publisher("127.0.0.1", { pubPort: r0.pubPort + 1, replayPort: r0.replayPort + 1 });
      return [r0, r1];
    } catch (e) {
      if (attempt >= 20) throw e;
    }
  }
}

async function publisher(host = "127.0.0.1", ports: { pubPort?: number; replayPort?: number } = {}) {
  const p = await FakeVllmPublisher.start({ host, ...ports });
  publishers.push(p);
  return p;
}

function start(
  cluster: ClusterStore,
  sink: RecordingSink,
  extra: Partial<KvEventsOptions> & Pick<KvEventsOptions, "ports">,
) {
  // No `settle` check replay unless a test asks: replay counts stay exact.
  kv = startKvEvents({
    cluster,
    sink,
    enabledFor: labelEnabled,
    replayTimeoutMs: 1000,
    settleMs: 600_000,
    ...extra,
  });
  return kv;
}

/** Probe until `podKey`'s subscription is live and every probe is consumed; then forget the calls. */
async function live(k: KvEvents, p: FakeVllmPublisher, sink: RecordingSink, podKey: string): Promise<void> {
  // Live delivery proves the subscription reached the engine (a replay on connect may apply probes before it).
  await p.probeUntil(PROBE, () => (k.status(podKey)?.received ?? 0) > 0);
  await until(() => k.status(podKey)?.lastSeq === p.nextSeq - 1n, "probes consumed");
  sink.reset();
}

describe("startKvEvents", () => {
  it("subscribes to ready, enabled pods only and attributes events to the right pod", async () => {
    const a = await publisher("127.0.0.1");
    // Same ports on another loopback address: the pod identity comes from the socket, not the message.
    const b = await publisher("127.0.0.2", { pubPort: a.pubPort, replayPort: a.replayPort });
    const cluster = createClusterStore();
    cluster.replace([
      pod("a", "127.0.0.1"),
      pod("b", "127.0.0.2"),
      pod("off", "127.0.0.3", { labels: {} }),
      pod("unready", "127.0.0.4", { ready: false }),
    ]);
    const sink = new RecordingSink();
    const k = start(cluster, sink, { ports: { pub: a.pubPort, replay: a.replayPort } });
    expect(k.pods()).toEqual(["default/a", "default/b"]);
    expect(k.status("default/off")).toBeUndefined();
    expect(k.publishing("default/unready")).toBe(false);
    await live(k, a, sink, "default/a");
    await live(k, b, sink, "default/b");
    await a.publish(frames[0]!.payload);
    await b.publish(frames[1]!.payload);
    await sink.waitFor((c) => c.length === 2);
    expect(sink.calls.map((c) => `${c.pod}:${c.op}`).sort()).toEqual([
      "default/a:stored",
      "default/b:removed",
    ]);
    expect(k.publishing("default/a")).toBe(true);
    expect(k.status("default/a")).toMatchObject({ connected: true, resyncs: 0 });
  });

  it("drops and unsubscribes a pod that becomes unready, and resubscribes when it is ready again", async () => {
    const p = await publisher();
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1")]);
    const sink = new RecordingSink();
    const k = start(cluster, sink, { ports: { pub: p.pubPort, replay: p.replayPort } });
    await live(k, p, sink, "default/a");
    cluster.replace([pod("a", "127.0.0.1", { ready: false })]);
    expect(sink.ops()).toEqual(["drop"]);
    expect(k.pods()).toEqual([]);
    expect(k.status("default/a")).toBeUndefined();
    expect(k.publishing("default/a")).toBe(false);
    cluster.replace([pod("a", "127.0.0.1")]);
    expect(k.pods()).toEqual(["default/a"]);
    await live(k, p, sink, "default/a");
    await p.publish(frames[0]!.payload);
    await sink.waitFor((c) => c.length === 1);
    expect(sink.calls[0]).toMatchObject({ pod: "default/a", op: "stored" });
  });

  it("drops a removed pod, a pod whose label is turned off, and resubscribes on an IP change", async () => {
    const p = await publisher();
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1"), pod("b", "127.0.0.1")]);
    const sink = new RecordingSink();
    const k = start(cluster, sink, { ports: { pub: p.pubPort, replay: p.replayPort } });
    cluster.replace([pod("b", "127.0.0.1")]);
    expect(sink.calls).toEqual([{ op: "drop", pod: "default/a" }]);
    cluster.replace([pod("b", "127.0.0.1", { labels: { [KV_EVENTS_LABEL]: "false" } })]);
    expect(sink.calls[1]).toEqual({ op: "drop", pod: "default/b" });
    expect(k.pods()).toEqual([]);
    cluster.replace([pod("b", "127.0.0.1")]);
    cluster.replace([pod("b", "127.0.0.2")]);
    expect(sink.calls[2]).toEqual({ op: "drop", pod: "default/b" });
    expect(k.pods()).toEqual(["default/b"]);
  });

  it("offsets both ports by the pod's data-parallel rank", async () => {
    const p = await publisher();
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1", { key: "default/a/rank-3", dataParallelRank: 3 })]);
    const sink = new RecordingSink();
    const k = start(cluster, sink, { ports: { pub: p.pubPort - 3, replay: p.replayPort - 3 } });
    const key = "default/a/rank-3";
    await p.probeUntil(stamped(PROBE, 3), () => (k.status(key)?.received ?? 0) > 0);
    await until(() => k.status(key)?.lastSeq === p.nextSeq - 1n, "probes consumed");
    sink.reset();
    const before = { replays: k.status(key)!.replays, gaps: k.status(key)!.gaps };
    expect(p.replayRequests.length).toBe(before.replays); // the connect replay came to the offset port
    // A gap proves the replay port is offset too.
    await p.publish(stamped(frames[0]!.payload, 3), { skip: true });
    await p.publish(stamped(frames[1]!.payload, 3));
    await sink.waitFor((c) => c.length === 2);
    expect(sink.ops()).toEqual(["stored", "removed"]);
    await until(() => !k.status(key)!.replaying, "replay done");
    expect(k.status(key)).toMatchObject({
      gaps: before.gaps + 1,
      replays: before.replays + 1,
      resyncs: 0,
      rankMismatches: 0,
    });
    expect(p.replayRequests.length).toBe(before.replays + 1);
  });

  it("follows every rank of a pod on its own port and drops a batch stamped with another rank", async () => {
    const [r0, r1] = await publisherPair();
    const cluster = createClusterStore();
    const base = pod("dp", "127.0.0.1");
    cluster.replace(
      [0, 1].map((r) => ({ ...base, key: `default/dp/rank-${r}`, port: 8000 + r, dataParallelRank: r })),
    );
    const sink = new RecordingSink();
    const mismatches: string[] = [];
    const k = start(cluster, sink, {
      ports: { pub: r0.pubPort, replay: r0.replayPort },
      observer: { onRankMismatch: (key, got) => mismatches.push(`${key}:${got}`) },
    });
    expect(k.pods()).toEqual(["default/dp/rank-0", "default/dp/rank-1"]);
    for (const [r, p] of [r0, r1].entries()) {
      const key = `default/dp/rank-${r}`;
      await p.probeUntil(stamped(PROBE, r), () => (k.status(key)?.received ?? 0) > 0);
      await until(() => k.status(key)?.lastSeq === p.nextSeq - 1n, `rank ${r} probes consumed`);
    }
    sink.reset();
    await r1.publish(stamped(frames[0]!.payload, 1));
    await r0.publish(stamped(frames[1]!.payload, 0));
    await sink.waitFor((c) => c.length === 2);
    expect(sink.calls.map((c) => `${c.pod}:${c.op}`).sort()).toEqual([
      "default/dp/rank-0:removed",
      "default/dp/rank-1:stored",
    ]);
    // Rank 0's socket sends a batch stamped rank 1: dropped whole, counted, its sequence still consumed.
    sink.reset();
    await r0.publish(stamped(frames[0]!.payload, 1));
    await until(() => k.status("default/dp/rank-0")?.rankMismatches === 1, "mismatch counted");
    expect(k.status("default/dp/rank-0")?.lastSeq).toBe(r0.nextSeq - 1n);
    expect(sink.calls).toEqual([]);
    expect(mismatches).toEqual(["default/dp/rank-0:1"]);
    expect(k.status("default/dp/rank-1")?.rankMismatches).toBe(0);
  });

  it("reports events, gaps, replays and resyncs to the observer", async () => {
    const p = await publisher();
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1")]);
    const sink = new RecordingSink();
    const log: string[] = [];
    const k = start(cluster, sink, {
      ports: { pub: p.pubPort, replay: p.replayPort },
      observer: {
        onEvent: (_k, tag) => log.push(`event:${tag}`),
        onGap: () => log.push("gap"),
        onReplay: (_k, r) => log.push(`replay:${r}`),
        onResync: (_k, r) => log.push(`resync:${r}`),
        onDecodeError: (_k, r) => log.push(`decode:${r}`),
        onConnect: () => log.push("connect"),
      },
    });
    await live(k, p, sink, "default/a");
    expect(log).toContain("connect");
    log.length = 0;
    await p.publish(Buffer.from("c1", "hex"));
    await p.publish(frames[0]!.payload, { skip: true });
    await p.publish(frames[1]!.payload);
    await sink.waitFor((c) => c.length === 2);
    await until(() => log.includes("replay:ok"), "replay outcome");
    p.restart();
    await p.publish(frames[2]!.payload);
    await sink.waitFor((c) => c.length === 4);
    await until(() => log.filter((x) => x === "replay:ok").length === 2, "replay from 0 after the restart");
    // The restarted engine's batch 0 comes from the replay from 0; its live copy is a duplicate.
    expect(log).toEqual([
      "decode:msgpack",
      "gap",
      "event:BlockStored",
      "event:BlockRemoved",
      "replay:ok",
      "resync:restart",
      "event:AllBlocksCleared",
      "replay:ok",
    ]);
  });

  it("bounds replays in flight across pods; the others wait their turn", async () => {
    const a = await publisher("127.0.0.1");
    const same = { pubPort: a.pubPort, replayPort: a.replayPort };
    const ps = [a, await publisher("127.0.0.2", same), await publisher("127.0.0.3", same)];
    for (const p of ps) p.muteReplay = true; // every replay hangs until its timeout
    const cluster = createClusterStore();
    cluster.replace([pod("a", "127.0.0.1"), pod("b", "127.0.0.2"), pod("c", "127.0.0.3")]);
    const k = start(cluster, new RecordingSink(), {
      ports: { pub: a.pubPort, replay: a.replayPort },
      maxConcurrentReplays: 1,
      replayTimeoutMs: 300,
      retryBackoff: { initialMs: 600_000, maxMs: 600_000 },
    });
    const asked = (): number => ps.reduce((n, p) => n + p.replayRequests.length, 0);
    await until(
      () => asked() === 1 && k.replaySlots().inFlight === 1 && k.replaySlots().queued === 2,
      "one replay in flight, two waiting",
    );
    const waiting = k.pods().filter((key) => k.status(key)?.state === "replaying");
    expect(waiting).toHaveLength(3); // waiting for a slot counts as replaying: not publishing
    await until(
      () => ps.every((p) => p.replayRequests.length === 1),
      "each pod's turn after a timeout",
      10_000,
    );
    await until(() => k.replaySlots().inFlight === 0, "all timed out");
    expect(k.pods().map((key) => k.status(key)?.state)).toEqual([
      "resync-pending",
      "resync-pending",
      "resync-pending",
    ]);
  });
});
