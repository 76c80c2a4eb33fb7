/**
 * The flow controller in memory, on a real load tracker and one pod whose metrics are missing and whose capacity
 * lets one request be in flight: the fast path answers synchronously, a saturated model's requests wait and are
 * dispatched as room returns, a decision that throws fails only its own request, `close` refuses what is left, and a
 * dispatched request's release settles its tenant's charge once with the tokens it used.
 */
import { createLoadTracker } from "../../../src/cluster/load-tracker";
import { Code, RouteError } from "../../../src/errors";
import { createFlowController } from "../../../src/routing/flow/flow-controller";
import type { FlowCharge } from "../../../src/routing/flow/flow-charge";
import { settleOnRelease } from "../../../src/routing/flow/flow-charge";
import type { Pick } from "../../../src/routing/framework";
import { MODEL, makePod } from "../pods";

const pod = makePod(1);

function controller() {
  const load = createLoadTracker();
  const flow = createFlowController({
    queue: {
      limits: { maxQueued: 2, maxQueuedPerBand: 2, ttlMs: 60_000 },
      fairness: "round-robin",
      order: "fcfs",
      fairnessWindowMs: 60_000,
      maxFlows: 10,
    },
    thresholds: { queueDepth: 5, kvCacheUsage: 0.8, podCapacityTokens: 10 },
    signals: { fresh: () => undefined, lastKnown: () => undefined, load: (k) => load.get(k) },
    pods: () => [pod],
    recheckMs: 60_000,
  });
  const input = (id: string, headers: Record<string, string> = {}) => ({
    requestId: id,
    model: MODEL,
    headers: { get: (n: string) => headers[n] },
    promptTokens: 9,
    maxTokens: 4,
  });
  /** A decision that reserves the request's 9 prompt tokens (over 0.8 × 10: the pod is then full). */
  const reserve = (): (() => boolean) => load.reserve(pod.key, 9);
  return { load, flow, input, reserve };
}

describe("flow controller", () => {
  it("answers synchronously on the fast path and queues once the pod is full", async () => {
    const { flow, input, reserve } = controller();
    const charges: (FlowCharge | undefined)[] = [];
    const first = flow.admit(input("r1"), [pod], (c) => (charges.push(c), reserve()));
    expect(typeof first).toBe("function");
    const second = flow.admit(input("r2"), [pod], (c) => (charges.push(c), reserve()));
    expect(second).toBeInstanceOf(Promise);
    expect(flow.queued(MODEL)).toBe(1);
    expect(flow.sizes()).toEqual([[MODEL, 0, 1]]);
    // No room yet: a wake dispatches nothing.
    flow.wake(MODEL);
    expect(flow.queued(MODEL)).toBe(1);
    (first as () => boolean)();
    flow.wake(MODEL);
    expect(typeof (await second)).toBe("function");
    expect(flow.queued(MODEL)).toBe(0);
    expect(charges[0]).toBeUndefined();
    expect(charges[1]).toBeDefined();
    flow.close();
  });

  it("a dispatched decision that throws fails only its own request", async () => {
    const { flow, input, reserve } = controller();
    const busy = flow.admit(input("busy"), [pod], reserve) as () => boolean;
    const broken = flow.admit(input("broken"), [pod], () => {
      throw new RouteError(Code.Internal, "boom");
    });
    const fine = flow.admit(input("fine"), [pod], () => "routed");
    busy();
    flow.wake(MODEL);
    await expect(broken).rejects.toMatchObject({ code: Code.Internal });
    await expect(fine).resolves.toBe("routed");
    flow.close();
  });

  it("close refuses every queued request; nothing is left waiting", async () => {
    const { flow, input, reserve } = controller();
    flow.admit(input("busy"), [pod], reserve);
    const waiting = flow.admit(input("w"), [pod], () => "never");
    flow.close();
    await expect(waiting).rejects.toMatchObject({ code: Code.Draining });
    expect(flow.queued(MODEL)).toBe(0);
    // After close nothing queues: a request that would wait is refused at once.
    const late = flow.admit(input("late"), [pod], () => "never");
    await expect(late).rejects.toMatchObject({ code: Code.Draining });
    expect(flow.queued(MODEL)).toBe(0);
  });

  it("an aborted request leaves at once; an already aborted one is never queued", async () => {
    const { flow, input, reserve } = controller();
    flow.admit(input("busy"), [pod], reserve);
    const ac = new AbortController();
    const waiting = flow.admit({ ...input("w"), signal: ac.signal }, [pod], () => "never");
    ac.abort();
    await expect(waiting).rejects.toMatchObject({ code: Code.Unavailable });
    expect(flow.queued(MODEL)).toBe(0);
    const late = flow.admit({ ...input("late"), signal: ac.signal }, [pod], () => "never");
    await expect(late).rejects.toMatchObject({ code: Code.Unavailable });
    expect(flow.queued(MODEL)).toBe(0);
    flow.close();
  });
});

describe("settleOnRelease", () => {
  const routed = (released: string[]): Pick => ({
    t: "routed",
    pod,
    strategy: "random",
    responseHeaders: [],
    release: () => void released.push("released"),
    moveTo: () => false,
    fallbacks: [],
  });

  it("settles once, with the prompt plus the completion tokens the response reported", () => {
    const released: string[] = [];
    const settled: number[] = [];
    const p = settleOnRelease(routed(released), { settle: (n) => void settled.push(n) }, 9) as Pick;
    if (p.t !== "routed") throw new Error("not routed");
    p.release({ kind: "success", completionTokens: 30 });
    p.release({ kind: "success", completionTokens: 99 });
    expect(settled).toEqual([39]);
    expect(released).toEqual(["released", "released"]);
  });

  it("keeps the estimate when the response reported no usage, and waits for a decision still pending", async () => {
    const settled: number[] = [];
    const p = await settleOnRelease(Promise.resolve(routed([])), { settle: (n) => void settled.push(n) }, 9);
    if (p.t !== "routed") throw new Error("not routed");
    p.release({ kind: "cancelled" });
    expect(settled).toEqual([]);
  });
});
