/**
 * The top band of each model, learned from its requests: a single band is always the top (so the reserve holds
 * nothing back), a higher band takes the top at once, a lower one only after the top band has been quiet for the
 * window, and the record is bounded (a forgotten model's next request is its top again).
 */
import { createTopBands } from "../../../src/routing/flow/top-band";

describe("top bands", () => {
  it("a model with no requests, or one band only, has every request in its top band", () => {
    const t = createTopBands(1000);
    expect(t.isTop("m", -5, 0)).toBe(true);
    for (let now = 0; now < 5000; now += 700) {
      t.see("m", 0, now);
      expect(t.isTop("m", 0, now)).toBe(true);
    }
  });

  it("a higher band takes the top at once; lower bands are below it until it has been quiet for the window", () => {
    const t = createTopBands(1000);
    t.see("m", 0, 0);
    t.see("m", 1, 10);
    expect(t.isTop("m", 1, 10)).toBe(true);
    expect(t.isTop("m", 0, 10)).toBe(false);
    expect(t.isTop("m", 5, 10)).toBe(true);
    // Lower bands keep arriving; the top band's last request was at 10.
    t.see("m", 0, 500);
    expect(t.isTop("m", 0, 1010)).toBe(false);
    expect(t.isTop("m", 0, 1011)).toBe(true);
    // After the window the next request, of whatever band, is the top.
    t.see("m", -1, 1011);
    expect(t.isTop("m", -1, 1011)).toBe(true);
    expect(t.isTop("m", -2, 1011)).toBe(false);
    // A request of the top band refreshes it.
    t.see("m", -1, 1900);
    expect(t.isTop("m", -2, 2800)).toBe(false);
  });

  it("models are separate", () => {
    const t = createTopBands(1000);
    t.see("a", 3, 0);
    expect(t.isTop("a", 0, 0)).toBe(false);
    expect(t.isTop("b", 0, 0)).toBe(true);
  });

  it("a clock that steps back neither expires the top early nor moves its last request back", () => {
    const t = createTopBands(1000);
    t.see("m", 1, 5000);
    t.see("m", 1, 100);
    expect(t.isTop("m", 0, 5900)).toBe(false);
    expect(t.isTop("m", 0, 6001)).toBe(true);
  });

  it("forgets the model set least recently at its bound", () => {
    const t = createTopBands(1000, 2);
    t.see("a", 1, 0);
    t.see("b", 1, 0);
    t.see("a", 1, 1);
    t.see("c", 1, 2);
    expect(t.isTop("a", 0, 3)).toBe(false);
    expect(t.isTop("c", 0, 3)).toBe(false);
    // b was forgotten: its requests are all top again until it sees more.
    expect(t.isTop("b", 0, 3)).toBe(true);
  });
});
