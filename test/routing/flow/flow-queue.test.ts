import { createFlowQueue } from "../../../src/routing/flow/flow-queue";
import type {
  FairnessPolicy,
  FlowQueue,
  FlowQueueLimits,
  FlowQueueOptions,
  FlowRequest,
  OrderPolicy,
  Queued,
} from "../../../src/routing/flow/flow-queue-contract";
import { SLOTS_PER_WINDOW } from "../../../src/routing/token-tracker";
import { seededRandom } from "../../../src/seeded-random";

const WINDOW_MS = 32_000;
const SLOT_MS = WINDOW_MS / SLOTS_PER_WINDOW;

type Options = Partial<Omit<FlowQueueOptions, "limits">> & { limits?: Partial<FlowQueueLimits> };

/** A queue whose payload is the request id. */
function queue(options: Options = {}): FlowQueue<string> {
  return createFlowQueue<string>({
    fairness: "round-robin",
    order: "fcfs",
    fairnessWindowMs: WINDOW_MS,
    maxFlows: 100,
    ...options,
    limits: { maxQueued: 100, maxQueuedPerBand: 100, ttlMs: 10_000, ...options.limits },
  });
}

let seq = 0;
function req(over: Partial<FlowRequest> = {}): FlowRequest {
  return { id: `r${seq++}`, model: "m", priority: 0, flow: "a", tokens: 1, deadlineMs: undefined, ...over };
}

/** Push and return the entry; fails the test when refused. */
function push(q: FlowQueue<string>, over: Partial<FlowRequest>, nowMs = 0): Queued<string> {
  const r = req(over);
  const res = q.push(r, r.id, nowMs);
  if (res.t !== "queued") throw new Error(`${r.id} refused`);
  return res.entry;
}

/** Pop the model dry, checking peek agrees with pop each time; the payloads in order. */
function drain(q: FlowQueue<string>, model = "m", nowMs = 0): string[] {
  const out: string[] = [];
  for (let e = q.peek(model, nowMs); e; e = q.peek(model, nowMs)) {
    expect(q.pop(model, nowMs)).toBe(e);
    out.push(e.payload);
  }
  expect(q.pop(model, nowMs)).toBeUndefined();
  return out;
}

const ids = (entries: readonly Queued<string>[]): string[] => entries.map((e) => e.payload);

describe("flow queue", () => {
  it("serves bands in strict priority order, sheddable bands last", () => {
    const q = queue();
    const a = push(q, { priority: 0 }).payload;
    const b = push(q, { priority: 5, flow: "x" }).payload;
    const c = push(q, { priority: -1 }).payload;
    const d = push(q, { priority: 5, flow: "y" }).payload;
    expect(q.sizes()).toEqual([
      ["m", 5, 2],
      ["m", 0, 1],
      ["m", -1, 1],
    ]);
    expect(drain(q)).toEqual([b, d, a, c]);
  });

  it("round-robin: flows take turns one request each; a flow that empties rejoins at the back", () => {
    const q = queue();
    const a = [push(q, { flow: "a" }), push(q, { flow: "a" }), push(q, { flow: "a" })].map((e) => e.payload);
    const b = push(q, { flow: "b" }).payload;
    const c = [push(q, { flow: "c" }), push(q, { flow: "c" })].map((e) => e.payload);
    expect(drain(q)).toEqual([a[0], b, c[0], a[1], c[1], a[2]]);

    const x1 = push(q, { flow: "x" }).payload;
    const y1 = push(q, { flow: "y" }).payload;
    expect(q.pop("m", 0)?.payload).toBe(x1); // x empties and leaves the ring
    const x2 = push(q, { flow: "x" }).payload;
    const y2 = push(q, { flow: "y" }).payload;
    expect(drain(q)).toEqual([y1, x2, y2]);
  });

  describe("least-attained", () => {
    const las = (extra: Options = {}): FlowQueue<string> => queue({ fairness: "least-attained", ...extra });

    it("is token-weighted: a light flow goes ahead of a heavy one until it has used as many tokens", () => {
      /** Three heavy (100 tokens) and three light (10) requests, alternating; their ids in push order. */
      const pushPairs = (q: FlowQueue<string>): string[] =>
        [0, 1, 2].flatMap(() => [
          push(q, { flow: "heavy", tokens: 100 }).payload,
          push(q, { flow: "light", tokens: 10 }).payload,
        ]);
      const q = las();
      const [h1, l1, h2, l2, h3, l3] = pushPairs(q);
      // A tie at zero goes to the flow waiting longest (heavy arrived first); then light until it has 30 < 100.
      expect(drain(q)).toEqual([h1, l1, l2, l3, h2, h3]);
      // The same pushes round-robin alternate.
      const rr = queue();
      const again = pushPairs(rr);
      expect(drain(rr)).toEqual(again);
    });

    it("forgets tokens once they leave the window; ties go to the flow waiting longest", () => {
      const q = las();
      push(q, { flow: "heavy", tokens: 1000 });
      expect(q.pop("m", 0)?.request.flow).toBe("heavy");
      const h = push(q, { flow: "heavy" }, 1).payload;
      const l = push(q, { flow: "light" }, 2).payload;
      expect(q.peek("m", 3)?.payload).toBe(l);
      // A window (plus a slot) later heavy's 1000 no longer count: both at zero, heavy has waited longer.
      expect(q.peek("m", WINDOW_MS + SLOT_MS)?.payload).toBe(h);
      expect(drain(q, "m", WINDOW_MS + SLOT_MS)).toEqual([h, l]);
    });

    it("settle replaces the charge with the actual usage (at the charge's slot, or from the newest tokens)", () => {
      const q = las();
      push(q, { flow: "a", tokens: 500 });
      push(q, { flow: "b", tokens: 50 });
      expect(ids([q.pop("m", 0), q.pop("m", 0)] as Queued<string>[])).toHaveLength(2);
      const a = push(q, { flow: "a" }, 10).payload;
      const b = push(q, { flow: "b" }, 10).payload;
      expect(q.peek("m", 10)?.payload).toBe(b); // a 500, b 50
      q.settle("a", 500, 20, 10, 0); // a really used 20
      expect(q.peek("m", 10)?.payload).toBe(a);
      q.settle("a", 20, 80, 11); // and then 80, corrected without the charge time
      expect(q.peek("m", 11)?.payload).toBe(b);
      // Later, with the charges made at 0 and 10 out of the window, a reports 20 tokens and b 30 (uncharged).
      const late = WINDOW_MS + 2 * SLOT_MS;
      q.settle("a", 0, 20, late);
      q.settle("b", 0, 30, late);
      expect(q.peek("m", late)?.payload).toBe(a);
      // b's old 50 come back from their own slot, long gone: b's newer 30 stay (else b would drop to 0 and lead).
      q.settle("b", 50, 0, late, 0);
      expect(q.peek("m", late)?.payload).toBe(a);
    });

    it("remembers at most maxFlows flows; a forgotten flow restarts at zero", () => {
      const q = las({ maxFlows: 2 });
      for (const flow of ["a", "b", "c"]) {
        push(q, { flow, tokens: 100 });
        q.pop("m", 0);
      } // charging c forgot a, the least recently charged
      push(q, { flow: "c" });
      push(q, { flow: "b" });
      const a = push(q, { flow: "a" }).payload;
      expect(q.pop("m", 0)?.payload).toBe(a);
      // Had a been remembered, the tie at 100 would go to c (waiting longest).
      const wide = las({ maxFlows: 3 });
      for (const flow of ["a", "b", "c"]) {
        push(wide, { flow, tokens: 100 });
        wide.pop("m", 0);
      }
      const c = push(wide, { flow: "c" }).payload;
      push(wide, { flow: "b" });
      push(wide, { flow: "a" });
      expect(wide.pop("m", 0)?.payload).toBe(c);
    });

    it("round-robin ignores settle and tokens", () => {
      const q = queue();
      q.settle("a", 0, 1e9, 0);
      const a = push(q, { flow: "a", tokens: 1e9 }).payload;
      const b = push(q, { flow: "b" }).payload;
      expect(drain(q)).toEqual([a, b]);
    });
  });

  it("within a flow: fcfs by push order, edf by deadline with no-deadline last in push order", () => {
    const deadlines = [300, undefined, 100, undefined, 200, 100];
    const run = (order: OrderPolicy): string[] => {
      const q = queue({ order });
      const pushed = deadlines.map((deadlineMs) => push(q, { deadlineMs }).payload);
      return drain(q).map((id) => String(pushed.indexOf(id)));
    };
    expect(run("fcfs")).toEqual(["0", "1", "2", "3", "4", "5"]);
    expect(run("edf")).toEqual(["2", "5", "4", "0", "1", "3"]);
  });

  describe("caps and shedding", () => {
    it("a full band refuses its arrivals and sheds nothing (not even a lower sheddable request)", () => {
      const q = queue({ limits: { maxQueued: 10, maxQueuedPerBand: 2 } });
      const low = push(q, { priority: -1 });
      push(q, { priority: 0 });
      push(q, { priority: 0, model: "other" }); // the band cap counts every model
      expect(q.push(req({ priority: 0 }), "x", 0)).toEqual({ t: "rejected", reason: "queue-full" });
      expect(q.size).toBe(3);
      expect(q.remove(low)).toBe(true); // it was still there
      push(q, { priority: 1 }); // other bands have room
    });

    it("at the global cap sheds the lowest sheddable band's newest request, over every model", () => {
      const q = queue({ limits: { maxQueued: 4 } });
      const s1 = push(q, { priority: -1 }).payload;
      const s2 = push(q, { priority: -2, model: "x" }).payload;
      const s3 = push(q, { priority: -2 }).payload;
      push(q, { priority: 0 });
      const shedBy = (priority: number): string[] => {
        const r = q.push(req({ priority }), "n", 0);
        return r.t === "queued" ? ids(r.shed) : [r.reason];
      };
      expect(shedBy(0)).toEqual([s3]);
      expect(shedBy(5)).toEqual([s2]);
      expect(shedBy(0)).toEqual([s1]);
      // Only non-sheddable requests left: never shed, the arrival is refused.
      expect(shedBy(9)).toEqual(["queue-full"]);
      expect(q.size).toBe(4);
      expect(q.sizes().every(([, band]) => band >= 0)).toBe(true);
    });

    it("an arriving sheddable request sheds only strictly lower bands", () => {
      const q = queue({ limits: { maxQueued: 2 } });
      const low = push(q, { priority: -3 }).payload;
      push(q, { priority: -1 });
      const same = q.push(req({ priority: -3 }), "s", 0);
      expect(same).toEqual({ t: "rejected", reason: "queue-full" });
      const higher = q.push(req({ priority: -2 }), "h", 0);
      expect(higher.t === "queued" && ids(higher.shed)).toEqual([low]);
      // Now -2 and -1 are queued: a -2 arrival finds nothing below it.
      expect(q.push(req({ priority: -2 }), "h2", 0).t).toBe("rejected");
      expect(q.push(req({ priority: -1 }), "h3", 0).t).toBe("queued");
    });
  });

  it("expires requests that waited ttlMs from the oldest, and says when the next one will", () => {
    const q = queue({ limits: { ttlMs: 1000 } });
    expect(q.nextExpiryMs()).toBeUndefined();
    const a = push(q, { flow: "a" }, 0).payload;
    const b = push(q, { flow: "b" }, 100);
    const c = push(q, { flow: "c", model: "other" }, 500).payload;
    expect(q.nextExpiryMs()).toBe(1000);
    expect(q.expire(999)).toEqual([]);
    expect(ids(q.expire(1000))).toEqual([a]);
    expect(q.nextExpiryMs()).toBe(1100);
    expect(q.remove(b)).toBe(true);
    expect(q.nextExpiryMs()).toBe(1500);
    // A clock that steps back stands still: this push counts as made at 1000.
    const d = push(q, { flow: "d" }, 10);
    expect(d.enqueuedMs).toBe(1000);
    expect(ids(q.expire(5000))).toEqual([c, d.payload]);
    expect([q.nextExpiryMs(), q.size, q.sizes()]).toEqual([undefined, 0, []]);
  });

  it("remove cancels a queued request once, leaving the rest in order", () => {
    const q = queue();
    const [e1, e2, e3] = [push(q, {}), push(q, {}), push(q, {})];
    expect(q.remove(e2 as Queued<string>)).toBe(true);
    expect(q.remove(e2 as Queued<string>)).toBe(false);
    expect(q.remove({ ...(e1 as Queued<string>) })).toBe(false); // a look-alike is not queued
    expect(q.pop("m", 0)).toBe(e1);
    expect(q.remove(e1 as Queued<string>)).toBe(false); // dispatched already
    expect(q.size).toBe(1);
    expect(drain(q)).toEqual([(e3 as Queued<string>).payload]);
  });

  it("keeps models apart: peek and pop see one model; length per model; the caps count all models", () => {
    const q = queue({ limits: { maxQueued: 3 } });
    const m1 = push(q, { model: "m1", priority: 9 }).payload;
    const m2 = push(q, { model: "m2" }).payload;
    push(q, { model: "m2" });
    expect([q.length("m1"), q.length("m2"), q.length("none"), q.size]).toEqual([1, 2, 0, 3]);
    expect(q.peek("m2", 0)?.payload).toBe(m2);
    expect(q.push(req({ model: "m3" }), "x", 0).t).toBe("rejected");
    expect(q.pop("none", 0)).toBeUndefined();
    expect(drain(q, "m2")).toHaveLength(2);
    expect(q.sizes()).toEqual([["m1", 9, 1]]);
    expect(drain(q, "m1")).toEqual([m1]);
    expect(q.sizes()).toEqual([]);
  });

  it("drains many flows over several bands completely, leaving nothing behind", () => {
    const q = queue({
      fairness: "least-attained",
      maxFlows: 50,
      limits: { maxQueued: 5000, maxQueuedPerBand: 5000 },
    });
    for (let i = 0; i < 3000; i++) push(q, { flow: `f${i % 200}`, priority: i % 3, tokens: 1 + (i % 7) }, i);
    const served = new Set<string>();
    const bands: number[] = [];
    for (let e = q.pop("m", 3000); e; e = q.pop("m", 3000)) {
      if (e.request.priority !== bands[bands.length - 1]) bands.push(e.request.priority);
      served.add(e.payload);
    }
    expect(bands).toEqual([2, 1, 0]);
    expect(served.size).toBe(3000);
    expect([q.size, q.sizes(), q.nextExpiryMs(), q.length("m")]).toEqual([0, [], undefined, 0]);
  });

  describe.each([
    ["round-robin", "fcfs"],
    ["round-robin", "edf"],
    ["least-attained", "fcfs"],
    ["least-attained", "edf"],
  ] as [FairnessPolicy, OrderPolicy][])("randomized (%s, %s)", (fairness, order) => {
    it("loses nothing, double-counts nothing, keeps its bounds and strict priority", () => {
      const random = seededRandom(fairness.length * 31 + order.length);
      const pick = <X>(xs: readonly X[]): X => xs[Math.floor(random() * xs.length)] as X;
      const limits = { maxQueued: 40, maxQueuedPerBand: 15, ttlMs: 500 };
      const q = createFlowQueue<string>({ fairness, order, fairnessWindowMs: 300, maxFlows: 4, limits });
      const models = ["m1", "m2", "m3"];
      const live = new Map<string, Queued<string>>();
      const outcome = new Map<string, string>();
      const problems: string[] = [];
      const settle = (id: string, how: string): void => {
        if (outcome.has(id) || !live.delete(id))
          problems.push(`${id} out twice (${outcome.get(id)}, ${how})`);
        outcome.set(id, how);
      };
      let now = 0;
      let accepted = 0;
      let rejected = 0;
      for (let step = 0; step < 2000; step++) {
        now += Math.floor(random() * 8);
        const roll = random();
        if (roll < 0.5) {
          const r = req({
            model: pick(models),
            priority: pick([-2, -1, 0, 1, 2]),
            flow: pick(["a", "b", "c", "d", "e", "f"]),
            tokens: Math.floor(random() * 100),
            deadlineMs: random() < 0.3 ? undefined : now + Math.floor(random() * 400),
          });
          const res = q.push(r, r.id, now);
          if (res.t === "queued") {
            accepted++;
            for (const s of res.shed) {
              if (s.request.priority >= 0 || s.request.priority >= r.priority)
                problems.push(`bad shed ${s.payload}`);
              settle(s.payload, "shed");
            }
            live.set(r.id, res.entry);
          } else rejected++;
        } else if (roll < 0.8) {
          const model = pick(models);
          const peeked = q.peek(model, now);
          const e = q.pop(model, now);
          if (e !== peeked) problems.push(`peek != pop at ${step}`);
          if (e) {
            const top = Math.max(
              ...[...live.values()].filter((x) => x.request.model === model).map((x) => x.request.priority),
            );
            if (e.request.priority !== top) problems.push(`band ${e.request.priority} before ${top}`);
            settle(e.payload, "popped");
            if (random() < 0.5)
              q.settle(e.request.flow, e.request.tokens, Math.floor(random() * 200), now, now);
          }
        } else if (roll < 0.9 && live.size > 0) {
          const e = pick([...live.values()]);
          if (!q.remove(e)) problems.push(`remove failed ${e.payload}`);
          settle(e.payload, "removed");
          if (q.remove(e)) problems.push(`removed twice ${e.payload}`);
        } else {
          for (const e of q.expire(now)) {
            if (e.enqueuedMs + limits.ttlMs > now) problems.push(`early expiry ${e.payload}`);
            settle(e.payload, "expired");
          }
          const next = q.nextExpiryMs();
          if (next !== undefined && next <= now) problems.push(`stale next expiry at ${step}`);
        }
        // Invariants after every step.
        const sizes = q.sizes();
        const perBand = new Map<number, number>();
        for (const [, band, n] of sizes) perBand.set(band, (perBand.get(band) ?? 0) + n);
        const lengths = models.map((m) => q.length(m));
        const wantLengths = models.map((m) => [...live.values()].filter((e) => e.request.model === m).length);
        if (
          q.size !== live.size ||
          sizes.reduce((a, [, , n]) => a + n, 0) !== live.size ||
          sizes.some(([, , n]) => n <= 0) ||
          q.size > limits.maxQueued ||
          [...perBand.values()].some((n) => n > limits.maxQueuedPerBand) ||
          lengths.join() !== wantLengths.join()
        ) {
          problems.push(`accounting at ${step}: ${q.size} vs ${live.size}`);
        }
      }
      for (const m of models) for (let e = q.pop(m, now); e; e = q.pop(m, now)) settle(e.payload, "popped");
      expect(problems).toEqual([]);
      expect(live.size).toBe(0);
      expect(outcome.size).toBe(accepted);
      expect(rejected).toBeGreaterThan(0); // the caps were reached
      expect(new Set(outcome.values()).size).toBe(4); // every way out was exercised
    });
  });
});
