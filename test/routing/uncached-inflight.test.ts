/**
 * The per-pod prefill backlog of kvroute's picks on an injected clock: shares drain as a fluid FIFO at the pod's
 * throughput, and a first token (`prefilled`) ends the share and those queued before it and re-anchors the rest
 * on the time the pod really finished, whether it was faster or slower than the model.
 */
import { createUncachedInflight } from "../../src/routing/uncached-inflight";

/** 1 token per ms. */
const RATE = 1000;

describe("uncached in-flight", () => {
  it("a first token ends the share and every share queued before it, once, and not after a release", () => {
    const t = createUncachedInflight();
    const a = t.reserve("p", 100, 0, undefined);
    const b = t.reserve("p", 200, 0, undefined);
    const c = t.reserve("p", 400, 0, undefined);
    expect(t.tokens("p", 0)).toBe(700);
    // b's first token: the pod prefills in arrival order, so a is done too; c still counts in full.
    b.prefilled(5);
    expect(t.tokens("p", 5)).toBe(400);
    // Later signals of the ended shares, and their releases and moves, change nothing.
    a.prefilled(6);
    a.release();
    b.moveTo("q", 200, 6, undefined);
    expect(t.tokens("p", 6)).toBe(400);
    expect(t.tokens("q", 6)).toBe(0);
    c.release();
    c.prefilled(7);
    expect(t.tokens("p", 7)).toBe(0);
  });

  it("re-anchors the later shares' drain on the first token: later when the pod was slower than modelled", () => {
    const t = createUncachedInflight();
    const a = t.reserve("p", 100, 0, RATE);
    t.reserve("p", 100, 0, RATE);
    // The model has both drained by 200 ms; the engine's first token for `a` comes only at 300 ms.
    expect(t.tokens("p", 250)).toBe(0);
    a.prefilled(300);
    // The second share starts draining now: 100 at 300 ms, 50 at 350 ms.
    expect(t.tokens("p", 300)).toBe(100);
    expect(t.tokens("p", 350)).toBe(50);
    expect(t.tokens("p", 400)).toBe(0);
  });

  it("re-anchors on the first token: earlier when the pod was faster, never before a share was queued", () => {
    const t = createUncachedInflight();
    const a = t.reserve("p", 400, 0, RATE);
    t.reserve("p", 100, 0, RATE);
    t.reserve("p", 100, 250, RATE);
    // Modelled: a done at 400, the second at 500, the third at 600.
    expect(t.tokens("p", 250)).toBe(150 + 100 + 100);
    a.prefilled(100);
    // From 100 ms: the second drains until 200 ms; the third was queued at 250 ms, so it starts then.
    expect(t.tokens("p", 150)).toBe(50 + 100);
    expect(t.tokens("p", 260)).toBe(90);
    // A share queued after the first token drains behind the re-anchored tail (350 ms), not the old one (600 ms).
    t.reserve("p", 100, 300, RATE);
    expect(t.tokens("p", 350)).toBe(100);
  });

  it("a share moved before its first token is ended on the pod that served it", () => {
    const t = createUncachedInflight();
    const a = t.reserve("p", 100, 0, undefined);
    t.reserve("q", 300, 0, undefined);
    a.moveTo("q", 50, 1, undefined);
    expect(t.tokens("p", 1)).toBe(0);
    expect(t.tokens("q", 1)).toBe(350);
    // Queued after q's own share: its first token ends both.
    a.prefilled(2);
    expect(t.tokens("q", 2)).toBe(0);
  });
});
