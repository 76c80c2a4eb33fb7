import {
  SCRAPE_BACKOFF_FIRST_MS,
  SCRAPE_BACKOFF_MAX_MS,
  ScrapeBackoff,
} from "../../../src/cluster/metrics/scrape-backoff";

describe("ScrapeBackoff", () => {
  it("waits 1 s after an unusable answer, doubling per answer in a row up to 60 s; a usable one or forget ends it", () => {
    expect([SCRAPE_BACKOFF_FIRST_MS, SCRAPE_BACKOFF_MAX_MS]).toEqual([1000, 60_000]);
    const b = new ScrapeBackoff();
    expect(b.holds("a", 0)).toBe(false);
    let at = 0;
    // Each wait starts when the unusable answer came in (the pod was due again exactly as its last wait ended).
    for (const wait of [1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000, 60_000]) {
      b.settled("a", true, at);
      expect([b.holds("a", at + wait - 1), b.holds("a", at + wait), b.holds("b", at)]).toEqual([
        true,
        false,
        false,
      ]);
      at += wait;
    }
    b.settled("a", false, at);
    expect([b.holds("a", at), b.size]).toEqual([false, 0]);
    b.settled("a", true, at);
    expect([b.holds("a", at + 999), b.holds("a", at + 1000)]).toEqual([true, false]);
    b.forget("a");
    expect([b.holds("a", at), b.size]).toEqual([false, 0]);
  });
});
