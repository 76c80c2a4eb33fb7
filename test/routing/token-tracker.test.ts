import { createTokenTracker, SLOTS_PER_WINDOW, type TokenTracker } from "../../src/routing/token-tracker";
import { seededRandom } from "./pods";

const WINDOW_MS = 64_000;
const SLOT_MS = WINDOW_MS / SLOTS_PER_WINDOW;

/** A tracker on a clock the test moves. */
function tracker(maxUsers = 100): { t: TokenTracker; clock: { ms: number } } {
  const clock = { ms: 1_000_000 };
  const t = createTokenTracker({
    windowMs: WINDOW_MS,
    maxUsers,
    defaultMin: 1000,
    defaultMax: 8000,
    now: () => clock.ms,
  });
  return { t, clock };
}

describe("token tracker (vtc-basic, flow control)", () => {
  it("sums charges per user, with min and max over users (defaults when none)", () => {
    const { t } = tracker();
    expect([t.minTokens(), t.maxTokens(), t.size()]).toEqual([1000, 8000, 0]);
    t.charge("a", 100);
    t.charge("a", 50);
    t.charge("b", 400);
    expect([t.tokens("a"), t.tokens("b"), t.tokens("nobody")]).toEqual([150, 400, 0]);
    expect([t.minTokens(), t.maxTokens(), t.size()]).toEqual([150, 400, 2]);
  });

  it("ignores zero, negative and non-finite charges (nothing tracked)", () => {
    const { t } = tracker();
    for (const x of [0, -5, NaN, Infinity]) t.charge("a", x);
    expect(t.size()).toBe(0);
    expect(t.tokens("a")).toBe(0);
  });

  it("forgets tokens once their slot leaves the window, user by user and in the bounds", () => {
    const { t, clock } = tracker();
    t.charge("a", 100);
    clock.ms += WINDOW_MS / 2;
    t.charge("a", 10);
    t.charge("b", 500);
    expect([t.tokens("a"), t.minTokens(), t.maxTokens()]).toEqual([110, 110, 500]);
    // Still inside the window (tokens count for at least the window).
    clock.ms += WINDOW_MS / 2 - 1;
    expect(t.tokens("a")).toBe(110);
    // The first charge expires within one slot after the window; the later ones stay.
    clock.ms += SLOT_MS + 1;
    expect([t.tokens("a"), t.minTokens(), t.maxTokens()]).toEqual([10, 10, 500]);
    clock.ms += WINDOW_MS;
    expect([t.tokens("a"), t.tokens("b"), t.size()]).toEqual([0, 0, 0]);
    expect([t.minTokens(), t.maxTokens()]).toEqual([1000, 8000]);
  });

  it("treats a clock stepping back as standing still", () => {
    const { t, clock } = tracker();
    t.charge("a", 100);
    clock.ms -= 10 * WINDOW_MS;
    t.charge("a", 5);
    expect(t.tokens("a")).toBe(105);
    clock.ms += 10 * WINDOW_MS + WINDOW_MS + SLOT_MS;
    expect(t.tokens("a")).toBe(0);
  });

  describe("settle", () => {
    it("replaces the charge in the same slot", () => {
      const { t } = tracker();
      const c = t.charge("a", 400);
      t.charge("a", 100);
      t.settle(c, 30);
      expect(t.tokens("a")).toBe(130);
      expect([t.minTokens(), t.maxTokens()]).toEqual([130, 130]);
    });

    it("after the slot moved on: takes the estimate back from its slot and puts the actual in the current one", () => {
      const { t, clock } = tracker();
      const c = t.charge("a", 400);
      clock.ms += WINDOW_MS / 2;
      t.settle(c, 1000);
      expect(t.tokens("a")).toBe(1000);
      // The actual counts for a full window from when it became known, the estimate is gone for good.
      clock.ms += WINDOW_MS / 2 + SLOT_MS;
      expect(t.tokens("a")).toBe(1000);
      clock.ms += WINDOW_MS / 2 + SLOT_MS;
      expect(t.tokens("a")).toBe(0);
    });

    it("a smaller actual lowers the maximum and can drop the user", () => {
      const { t } = tracker();
      const big = t.charge("a", 9000);
      t.charge("b", 200);
      expect(t.maxTokens()).toBe(9000);
      t.settle(big, 50);
      expect([t.minTokens(), t.maxTokens()]).toEqual([50, 200]);
      const small = t.charge("c", 10);
      t.settle(small, 0);
      expect([t.tokens("c"), t.size()]).toEqual([0, 2]);
    });

    it("when the estimate has already expired, only the actual is added", () => {
      const { t, clock } = tracker();
      const c = t.charge("a", 400);
      clock.ms += 2 * WINDOW_MS;
      expect(t.tokens("a")).toBe(0);
      t.settle(c, 70);
      expect(t.tokens("a")).toBe(70);
    });

    it("does nothing the second time", () => {
      const { t } = tracker();
      const c = t.charge("a", 400);
      t.settle(c, 10);
      t.settle(c, 99);
      expect(t.tokens("a")).toBe(10);
    });

    it("does not take an estimate back from a user that was forgotten and came back", () => {
      const { t } = tracker(1);
      const c = t.charge("a", 400);
      t.charge("b", 1); // forgets a
      t.charge("a", 300); // a again: a new record in the same slot
      t.settle(c, 5);
      expect(t.tokens("a")).toBe(305);
    });
  });

  describe("refund (a charge known only by its amount)", () => {
    it("at a known time: from that slot while it is in the window, else not at all", () => {
      const { t, clock } = tracker();
      const at = clock.ms;
      t.charge("a", 400);
      clock.ms += WINDOW_MS / 2;
      t.charge("a", 100);
      t.refund("a", 400, at);
      expect(t.tokens("a")).toBe(100);
      const later = clock.ms;
      t.charge("a", 50);
      clock.ms += WINDOW_MS + SLOT_MS; // the 100 and the 50 have left the window
      t.charge("a", 7);
      t.refund("a", 50, later); // its slot is gone: the new 7 is not touched
      expect(t.tokens("a")).toBe(7);
    });

    it("at an unknown time: from the newest tokens, never below zero, dropping an emptied user", () => {
      const { t, clock } = tracker();
      t.charge("a", 100);
      clock.ms += 2 * SLOT_MS;
      t.charge("a", 30);
      t.refund("a", 50);
      expect(t.tokens("a")).toBe(80);
      // The 30 went first: what is left is the old charge's, which leaves the window first.
      clock.ms += WINDOW_MS - SLOT_MS;
      expect(t.tokens("a")).toBe(0);
      t.charge("b", 10);
      t.refund("b", 1e9);
      t.refund("nobody", 5);
      t.refund("b", NaN);
      expect([t.tokens("b"), t.size(), t.minTokens()]).toEqual([0, 0, 1000]);
    });
  });

  describe("bound on users", () => {
    it("forgets the least recently charged user at the bound and fixes the bounds", () => {
      const { t } = tracker(3);
      t.charge("a", 9000);
      t.charge("b", 20);
      t.charge("c", 300);
      t.charge("a", 1); // a is now the most recent
      t.charge("d", 400); // forgets b, the least recently charged
      expect([t.tokens("b"), t.size()]).toEqual([0, 3]);
      expect(t.minTokens()).toBe(300);
      t.charge("e", 500); // forgets c
      t.charge("f", 600); // forgets a, the maximum
      expect([t.tokens("a"), t.size()]).toEqual([0, 3]);
      expect([t.minTokens(), t.maxTokens()]).toEqual([400, 600]);
    });

    it("stays at the bound under many distinct users", () => {
      const { t } = tracker(50);
      for (let i = 0; i < 2000; i++) t.charge(`user-${i}`, 1 + (i % 7));
      expect(t.size()).toBe(50);
      expect(t.tokens("user-0")).toBe(0);
      expect(t.tokens("user-1999")).toBe(1 + (1999 % 7));
    });

    it("agrees with a naive model over random charges, settles, evictions and expiry", () => {
      const { t, clock } = tracker(8);
      const random = seededRandom(42);
      // The model: per user, a list of [time, amount]; recency as an array of names.
      const model = new Map<string, [number, number][]>();
      const recency: string[] = [];
      const touch = (u: string): void => {
        const i = recency.indexOf(u);
        if (i >= 0) recency.splice(i, 1);
        else if (recency.length >= 8) model.delete(recency.shift() as string);
        recency.push(u);
      };
      const live = (u: string): number => {
        const cutoff = Math.floor((clock.ms - WINDOW_MS) / SLOT_MS);
        return (model.get(u) ?? [])
          .filter(([at]) => Math.floor(at / SLOT_MS) >= cutoff)
          .reduce((a, [, x]) => a + x, 0);
      };
      const got: unknown[] = [];
      const want: unknown[] = [];
      const open: { charge: ReturnType<TokenTracker["charge"]>; entry: [number, number] }[] = [];
      for (let step = 0; step < 1500; step++) {
        clock.ms += Math.floor(random() * SLOT_MS);
        const u = `u${Math.floor(random() * 12)}`;
        if (random() < 0.3 && open.length > 0) {
          const { charge, entry } = open.splice(Math.floor(random() * open.length), 1)[0] as (typeof open)[0];
          const actual = Math.floor(random() * 50);
          t.settle(charge, actual);
          const list = model.get(charge.user);
          if (list?.includes(entry)) entry[1] = 0;
          if (actual > 0) {
            touch(charge.user);
            model.set(charge.user, [...(model.get(charge.user) ?? []), [clock.ms, actual]]);
          }
        } else {
          const amount = 1 + Math.floor(random() * 100);
          const charge = t.charge(u, amount);
          touch(u);
          const entry: [number, number] = [clock.ms, amount];
          model.set(u, [...(model.get(u) ?? []), entry]);
          open.push({ charge, entry });
        }
        // Users whose window emptied leave the tracker; drop them from the model's recency too.
        for (const name of [...recency]) {
          if (live(name) === 0) {
            recency.splice(recency.indexOf(name), 1);
            model.delete(name);
          }
        }
        const totals = recency.map(live);
        got.push([recency.map((name) => t.tokens(name)), t.size(), t.minTokens(), t.maxTokens()]);
        want.push([
          totals,
          recency.length,
          totals.length > 0 ? Math.min(...totals) : 1000,
          totals.length > 0 ? Math.max(...totals) : 8000,
        ]);
      }
      // One comparison at the end: an expect per step makes this test 20 times slower.
      expect(got).toEqual(want);
    });
  });
});
