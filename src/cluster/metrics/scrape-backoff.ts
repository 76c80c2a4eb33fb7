/**
 * Backoff for pods whose exporter answers with what kvroute cannot use: a body over the size cap, or one that does
 * not parse. Such an answer costs a full read (up to the cap, 8 MiB by default) and a parse, and re-reading it every
 * interval (50 ms by default) gives nothing but that cost: a pod streaming an endless `/metrics` took kvroute from 3 %
 * to 30 % of a core. After such a result the pod sits out its scrapes for 1 s, doubling with each such result in a
 * row up to 60 s; its metrics meanwhile age out as any missing metrics do (the strategies fall back and count it).
 * A usable answer, or the pod leaving the fleet, clears it. Timeouts and refused connections are cheap and passive
 * health already acts on them, so they do not back off here.
 *
 * @module
 */

/** The first wait after an unusable answer, ms. */
export const SCRAPE_BACKOFF_FIRST_MS = 1000;
/** The longest wait, ms. */
export const SCRAPE_BACKOFF_MAX_MS = 60_000;

interface Waiting {
  readonly untilMs: number;
  readonly streak: number;
}

/** Per-pod backoff state; holds an entry only for a pod whose last answer was unusable. */
export class ScrapeBackoff {
  private readonly waiting = new Map<string, Waiting>();

  /** Record a scrape's end at `nowMs`: `unusable` starts or lengthens the pod's wait, anything else ends it. */
  settled(podKey: string, unusable: boolean, nowMs: number): void {
    if (!unusable) {
      this.waiting.delete(podKey);
      return;
    }
    const streak = (this.waiting.get(podKey)?.streak ?? 0) + 1;
    const waitMs = Math.min(SCRAPE_BACKOFF_MAX_MS, SCRAPE_BACKOFF_FIRST_MS * 2 ** Math.min(streak - 1, 16));
    this.waiting.set(podKey, { untilMs: nowMs + waitMs, streak });
  }

  /** Whether the pod sits out a scrape due at `nowMs`. */
  holds(podKey: string, nowMs: number): boolean {
    const w = this.waiting.get(podKey);
    return w !== undefined && nowMs < w.untilMs;
  }

  /** The pod left the fleet. */
  forget(podKey: string): void {
    this.waiting.delete(podKey);
  }

  /** Pods with a wait recorded. */
  get size(): number {
    return this.waiting.size;
  }
}
