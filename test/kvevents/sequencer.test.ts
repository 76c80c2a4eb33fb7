import { ReplaySlots, RetryBackoff, StreamSequencer } from "../../src/kvevents";
import type { SeqBatch } from "../../src/kvevents";

/** A batch whose bytes name its engine and sequence, as vLLM's timestamped payloads do. */
const b = (seq: number, engine = "A"): SeqBatch => ({
  seq: BigInt(seq),
  payload: Buffer.from(`${engine}${seq}`),
});

/** Run a whole replay through the sequencer; returns the verdicts and the end. */
function replay(s: StreamSequencer, batches: SeqBatch[]) {
  const from = s.beginReplay();
  const verdicts: string[] = [];
  for (const x of batches) {
    const v = s.classifyReplayed(x);
    verdicts.push(v);
    if (v === "restart" || v === "broken") {
      s.abortReplay();
      return { from, verdicts, end: undefined };
    }
    if (v === "uncovered" || v === "rebuild") s.droppedForReplay();
    if (v !== "duplicate") s.applied(x);
  }
  return { from, verdicts, end: s.endReplay() };
}

/** A sequencer that applied batches 0..n-1 of engine A through a first replay. */
function caughtUp(n: number): StreamSequencer {
  const s = new StreamSequencer();
  replay(
    s,
    Array.from({ length: n }, (_, i) => b(i)),
  );
  return s;
}

describe("StreamSequencer", () => {
  it("first replay asks from 0 and applies everything the engine buffered", () => {
    const s = new StreamSequencer();
    const r = replay(s, [b(0), b(1), b(2)]);
    expect(r).toEqual({ from: 0n, verdicts: ["apply", "apply", "apply"], end: "ok" });
    expect(s.lastSeq).toBe(2n);
  });

  it("an engine whose buffer no longer starts at 0 gives a partial first replay, nothing dropped", () => {
    const s = new StreamSequencer();
    expect(replay(s, [b(7), b(8)])).toEqual({ from: 0n, verdicts: ["apply", "apply"], end: "partial" });
  });

  it("before any batch, a live batch after an empty replay must be seq 0: a later one is a gap (slow joiner)", () => {
    const s = new StreamSequencer();
    expect(replay(s, []).end).toBe("ok");
    expect(s.classifyLive(b(2))).toBe("gap");
    expect(s.classifyLive(b(0))).toBe("apply");
  });

  it("live batches copied by the replay are duplicates; the next one applies; a skipped one is a gap", () => {
    const s = caughtUp(3);
    expect(s.classifyLive(b(1))).toBe("duplicate");
    expect(s.classifyLive(b(2))).toBe("duplicate");
    expect(s.classifyLive(b(3))).toBe("apply");
    s.applied(b(3));
    expect(s.classifyLive(b(5))).toBe("gap");
  });

  it("a sequence going backwards below what the replay covered is a restart", () => {
    const s = caughtUp(3);
    s.applied(b(3));
    s.applied(b(4)); // the replay window [0, 2] is forgotten once the stream moves past it
    expect(s.classifyLive(b(4))).toBe("duplicate"); // same bytes as the last applied
    expect(s.classifyLive(b(4, "B"))).toBe("restart");
    expect(s.classifyLive(b(1, "B"))).toBe("restart");
  });

  it("a reconnect replay starts at the last applied batch and proves the same engine by its bytes", () => {
    const s = caughtUp(3);
    const r = replay(s, [b(2), b(3), b(4)]);
    expect(r).toEqual({ from: 2n, verdicts: ["duplicate", "apply", "apply"], end: "ok" });
    expect(s.lastSeq).toBe(4n);
    expect(s.classifyLive(b(4))).toBe("duplicate");
    expect(s.classifyLive(b(5))).toBe("apply");
  });

  it("other bytes at the anchor's sequence: a new engine already past the old sequence", () => {
    const s = caughtUp(3);
    expect(replay(s, [b(2, "B"), b(3, "B")]).verdicts).toEqual(["restart"]);
  });

  it("nothing at or after the anchor: the engine's newest batch is older, so it restarted", () => {
    const s = caughtUp(3);
    expect(replay(s, []).end).toBe("restart");
  });

  it("a buffer that starts after the anchor: uncovered (drop), the rest applied, the replay partial", () => {
    const s = caughtUp(3);
    const r = replay(s, [b(9), b(10)]);
    expect(r).toEqual({ from: 2n, verdicts: ["uncovered", "apply"], end: "partial" });
    expect(s.lastSeq).toBe(10n);
  });

  it("after a restart, the next replay rebuilds from 0 and live batches wait for it", () => {
    const s = caughtUp(3);
    s.restarted();
    expect(s.classifyLive(b(1, "B"))).toBe("gap");
    expect(replay(s, [b(0, "B"), b(1, "B")])).toEqual({ from: 0n, verdicts: ["apply", "apply"], end: "ok" });
    expect(s.classifyLive(b(1, "B"))).toBe("duplicate");
  });

  it("after a failed replay the live stream is followed, and the next replay drops it and rebuilds from 0", () => {
    const s = caughtUp(3);
    s.beginReplay();
    s.abortReplay();
    s.forget();
    expect(s.historyComplete).toBe(false);
    expect(s.classifyLive(b(8))).toBe("apply");
    s.applied(b(8));
    expect(s.hasApplied).toBe(true);
    const r = replay(s, [b(2), b(3), b(4), b(5), b(6), b(7), b(8)]);
    expect(r.from).toBe(0n);
    expect(r.verdicts).toEqual(["rebuild", "apply", "apply", "apply", "apply", "apply", "apply"]);
    expect(r.end).toBe("partial");
    expect(s.historyComplete).toBe(true);
    expect(s.classifyLive(b(8))).toBe("duplicate");
    expect(s.classifyLive(b(9))).toBe("apply");
  });

  it("an out-of-order replay is broken", () => {
    const s = caughtUp(3);
    expect(replay(s, [b(2), b(4)]).verdicts).toEqual(["duplicate", "broken"]);
  });
});

describe("ReplaySlots", () => {
  it("grants up to the limit, then first come first served; a cancelled wait never takes a slot", async () => {
    const slots = new ReplaySlots(2);
    const order: string[] = [];
    const t = ["a", "b", "c", "d"].map((n) => {
      const ticket = slots.acquire();
      void ticket.granted.then(() => order.push(n));
      return ticket;
    });
    await Promise.resolve();
    expect(order).toEqual(["a", "b"]);
    expect([slots.inFlight, slots.queued]).toEqual([2, 2]);
    t[2]!.release(); // c gives up waiting
    t[0]!.release();
    await Promise.resolve();
    expect(order).toEqual(["a", "b", "d"]);
    t[0]!.release(); // releasing twice frees nothing more
    expect([slots.inFlight, slots.queued]).toEqual([2, 0]);
    t[1]!.release();
    t[3]!.release();
    expect(slots.inFlight).toBe(0);
  });

  it("rejects a limit below 1", () => {
    expect(() => new ReplaySlots(0)).toThrow(RangeError);
  });
});

describe("RetryBackoff", () => {
  it("doubles to the cap and starts over after a success", () => {
    const r = new RetryBackoff(100, 350);
    expect([r.next(), r.next(), r.next(), r.next()]).toEqual([100, 200, 350, 350]);
    r.reset();
    expect(r.next()).toBe(100);
  });
});
