/**
 * The status page's sliding window: routing decisions per strategy, fallbacks, prefix lookups (blocks) and
 * decision latency over the last {@link WINDOW_SECONDS} seconds, in one-second slots. Memory is fixed: a slot ring,
 * a latency histogram per slot on log-spaced buckets, and at most {@link MAX_STRATEGIES_PER_SLOT} strategy names per
 * slot (a `routing-strategy` header is client input; beyond the bound a decision counts as `other`).
 *
 * @module
 */

/** Length of the window, s. */
export const WINDOW_SECONDS = 60;
/** Distinct strategy names one slot remembers; the rest count under {@link OTHER_STRATEGY}. */
export const MAX_STRATEGIES_PER_SLOT = 16;
/** Where decisions of strategies beyond the bound are counted. */
export const OTHER_STRATEGY = "other";

// Latency buckets: 4 per doubling (≈19% wide) from 1 µs up; the last bucket takes everything above ~67 s.
const BUCKETS_PER_DOUBLING = 4;
const BUCKET_COUNT = 4 * 27;
const SMALLEST_MS = 0.001;

function bucketOf(ms: number): number {
  if (!(ms > SMALLEST_MS)) return 0;
  const i = Math.ceil(Math.log2(ms / SMALLEST_MS) * BUCKETS_PER_DOUBLING);
  return Math.min(BUCKET_COUNT - 1, i);
}

/** Upper bound of bucket `i`, ms: a percentile is reported as the bound of the bucket holding it. */
function upperBoundMs(i: number): number {
  return SMALLEST_MS * 2 ** (i / BUCKETS_PER_DOUBLING);
}

interface Slot {
  second: number;
  decisions: number;
  readonly strategies: Map<string, number>;
  fallbacks: number;
  readonly fallbackReasons: Map<string, number>;
  /** Finished requests whose decision looked a prefix up, and the blocks those lookups hit and looked up. */
  prefixLookups: number;
  prefixHitBlocks: number;
  prefixLookupBlocks: number;
  readonly latency: Uint32Array;
  maxMs: number;
}

function emptySlot(): Slot {
  return {
    second: -1,
    decisions: 0,
    strategies: new Map(),
    fallbacks: 0,
    fallbackReasons: new Map(),
    prefixLookups: 0,
    prefixHitBlocks: 0,
    prefixLookupBlocks: 0,
    latency: new Uint32Array(BUCKET_COUNT),
    maxMs: 0,
  };
}

function countBounded(m: Map<string, number>, key: string): void {
  const k = m.has(key) || m.size < MAX_STRATEGIES_PER_SLOT ? key : OTHER_STRATEGY;
  m.set(k, (m.get(k) ?? 0) + 1);
}

/** Decision latency percentiles over the window, ms (bucket upper bounds; `null` with no decision). */
export interface LatencySummary {
  readonly p50: number | null;
  readonly p90: number | null;
  readonly p99: number | null;
  readonly max: number | null;
}

/** What the window holds now. */
export interface WindowSummary {
  /** Seconds the rates are over: the window, or less while the process is younger than it. */
  readonly seconds: number;
  readonly decisions: number;
  readonly decisionsPerSecond: number;
  /** Busiest first. */
  readonly byStrategy: readonly { strategy: string; decisions: number; perSecond: number }[];
  readonly fallbacks: number;
  readonly fallbackReasons: Readonly<Record<string, number>>;
  /**
   * Finished requests whose decision looked a prefix up (any prefix-aware strategy of the plan), and the blocks
   * they hit on the picked pod of those looked up; `hitRate` is hit blocks / looked-up blocks, null with no lookup.
   */
  readonly prefix: {
    readonly lookups: number;
    readonly hitBlocks: number;
    readonly lookupBlocks: number;
    readonly hitRate: number | null;
  };
  readonly latencyMs: LatencySummary;
}

/** The window, fed by the recorder. */
export interface DecisionWindow {
  /** A decision by `strategy` that took `ms`. */
  decision(strategy: string, ms: number): void;
  /** A finished request whose pod came from the fallback, for `reason`. */
  fallback(reason: string): void;
  /** A finished request whose decision's prefix lookup hit `hitBlocks` of `lookupBlocks` (> 0) on its pod. */
  prefix(hitBlocks: number, lookupBlocks: number): void;
  summary(): WindowSummary;
}

/** A window over monotonic clock `now` (ms). */
export function createDecisionWindow(now: () => number): DecisionWindow {
  const startedMs = now();
  const slots: Slot[] = Array.from({ length: WINDOW_SECONDS }, emptySlot);
  const slotNow = (): Slot => {
    const second = Math.floor(now() / 1000);
    const slot = slots[second % WINDOW_SECONDS] as Slot;
    if (slot.second !== second) {
      slot.second = second;
      slot.decisions = 0;
      slot.strategies.clear();
      slot.fallbacks = 0;
      slot.fallbackReasons.clear();
      slot.prefixLookups = 0;
      slot.prefixHitBlocks = 0;
      slot.prefixLookupBlocks = 0;
      slot.latency.fill(0);
      slot.maxMs = 0;
    }
    return slot;
  };
  return {
    decision(strategy, ms) {
      const slot = slotNow();
      slot.decisions++;
      countBounded(slot.strategies, strategy);
      if (Number.isFinite(ms) && ms >= 0) {
        const i = bucketOf(ms);
        slot.latency[i] = (slot.latency[i] as number) + 1;
        if (ms > slot.maxMs) slot.maxMs = ms;
      }
    },
    fallback(reason) {
      const slot = slotNow();
      slot.fallbacks++;
      countBounded(slot.fallbackReasons, reason);
    },
    prefix(hitBlocks, lookupBlocks) {
      if (!(lookupBlocks > 0) || !(hitBlocks >= 0)) return;
      const slot = slotNow();
      slot.prefixLookups++;
      // A hit never exceeds its lookup (the contract); kept so even if an index disagreed.
      slot.prefixHitBlocks += Math.min(hitBlocks, lookupBlocks);
      slot.prefixLookupBlocks += lookupBlocks;
    },
    summary() {
      const t = now();
      const second = Math.floor(t / 1000);
      const seconds = Math.max(1, Math.min(WINDOW_SECONDS, (t - startedMs) / 1000));
      let decisions = 0;
      let fallbacks = 0;
      let lookups = 0;
      let hitBlocks = 0;
      let lookupBlocks = 0;
      let maxMs = 0;
      const strategies = new Map<string, number>();
      const reasons = new Map<string, number>();
      const latency = new Uint32Array(BUCKET_COUNT);
      for (const s of slots) {
        if (s.second <= second - WINDOW_SECONDS || s.second > second) continue;
        decisions += s.decisions;
        fallbacks += s.fallbacks;
        lookups += s.prefixLookups;
        hitBlocks += s.prefixHitBlocks;
        lookupBlocks += s.prefixLookupBlocks;
        maxMs = Math.max(maxMs, s.maxMs);
        for (const [k, n] of s.strategies) strategies.set(k, (strategies.get(k) ?? 0) + n);
        for (const [k, n] of s.fallbackReasons) reasons.set(k, (reasons.get(k) ?? 0) + n);
        for (let i = 0; i < BUCKET_COUNT; i++) latency[i] = (latency[i] as number) + (s.latency[i] as number);
      }
      const perSecond = (n: number): number => Math.round((n / seconds) * 100) / 100;
      return {
        seconds: Math.round(seconds),
        decisions,
        decisionsPerSecond: perSecond(decisions),
        byStrategy: [...strategies]
          .sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]))
          .map(([strategy, n]) => ({ strategy, decisions: n, perSecond: perSecond(n) })),
        fallbacks,
        fallbackReasons: Object.fromEntries(reasons),
        prefix: {
          lookups,
          hitBlocks,
          lookupBlocks,
          hitRate: lookupBlocks === 0 ? null : hitBlocks / lookupBlocks,
        },
        latencyMs: percentiles(latency, maxMs),
      };
    },
  };
}

function percentiles(latency: Uint32Array, maxMs: number): LatencySummary {
  const total = latency.reduce((a, b) => a + b, 0);
  if (total === 0) return { p50: null, p90: null, p99: null, max: null };
  const at = (q: number): number => {
    const rank = Math.ceil(q * total);
    let seen = 0;
    for (let i = 0; i < BUCKET_COUNT; i++) {
      seen += latency[i] as number;
      // Never above the largest sample seen: the bucket bound can be up to 19% over it.
      if (seen >= rank) return round3(Math.min(upperBoundMs(i), maxMs));
    }
    return round3(maxMs);
  };
  return { p50: at(0.5), p90: at(0.9), p99: at(0.99), max: round3(maxMs) };
}

function round3(ms: number): number {
  return Math.round(ms * 1000) / 1000;
}
