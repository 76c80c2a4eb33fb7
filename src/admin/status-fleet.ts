/**
 * The status page's fleet table, read off the `/debug/state` document (`debug-state.ts`): one compact row per pod
 * with readiness, kvroute's in-flight count, the engine's KV-cache usage and queue, the blocks each prefix index
 * holds for it, its KV-event stream (state, batches queued behind a replay, gaps) and passive health. The per-pod
 * facts arrive as untyped records from other runtimes, so every field is read defensively: a missing or odd value
 * shows as `null`, never as a made-up number.
 *
 * @module
 */
import type { DebugPod, DebugState } from "./debug-state";

/** A pod's KV-event stream as the page shows it. */
export interface FleetKvEvents {
  readonly state: string | null;
  readonly publishing: boolean | null;
  /** Live batches queued while a replay runs: how far the index lags the engine. */
  readonly queued: number | null;
  readonly gaps: number | null;
  readonly replays: number | null;
  readonly lastSeq: string | null;
}

/** One row of the fleet table. */
export interface FleetRow {
  readonly name: string;
  readonly namespace: string;
  readonly address: string;
  readonly models: readonly string[];
  readonly ready: boolean;
  readonly inflight: number;
  /** Engine KV-cache usage in [0, 1], from the freshest scrape; null when missing or stale. */
  readonly kvCacheUsage: number | null;
  /** Engine queue (requests waiting) and batch (running). */
  readonly waiting: number | null;
  readonly running: number | null;
  /** Engine prefix-cache hits / queries since the engine started. */
  readonly enginePrefixHitRate: number | null;
  readonly lastScrapeAgeMs: number | null;
  readonly blocks: {
    readonly event: number | null;
    readonly approximate: number | null;
    readonly speculative: number | null;
  };
  readonly kvEvents: FleetKvEvents | null;
  /**
   * Passive health: `healthy`, `ejected`, `probing`; `no data` where `/debug/state` has `health: null` (no request
   * outcome or failed scrape reported yet: kvroute holds nothing against the pod and routes to it); null when
   * passive health is off.
   */
  readonly health: string | null;
}

/** Fleet-wide totals. */
export interface FleetTotals {
  readonly pods: number;
  readonly readyPods: number;
  readonly inflight: number;
  /** Over every pod with fresh engine counters: Σ hits / Σ queries since each engine started. */
  readonly enginePrefixHitRate: number | null;
}

function field(o: unknown, key: string): unknown {
  return typeof o === "object" && o !== null ? (o as Record<string, unknown>)[key] : undefined;
}

function num(o: unknown, key: string): number | null {
  const v = field(o, key);
  return typeof v === "number" && Number.isFinite(v) ? v : null;
}

function str(o: unknown, key: string): string | null {
  const v = field(o, key);
  return typeof v === "string" ? v : null;
}

function bool(o: unknown, key: string): boolean | null {
  const v = field(o, key);
  return typeof v === "boolean" ? v : null;
}

function ratio(hits: number | null, queries: number | null): number | null {
  return hits !== null && queries !== null && queries > 0 ? hits / queries : null;
}

function kvEventsOf(prefix: unknown): FleetKvEvents | null {
  const k = field(prefix, "kvEvents");
  if (typeof k !== "object" || k === null) return null;
  return {
    state: str(k, "state"),
    publishing: bool(k, "publishing"),
    queued: num(k, "queued"),
    gaps: num(k, "gaps"),
    replays: num(k, "replays"),
    lastSeq: str(k, "lastSeq"),
  };
}

/** A pod without a record is routable, but nothing was heard about it: saying `healthy` would claim evidence. */
export const HEALTH_NO_DATA = "no data";

function healthOf(health: unknown): string | null {
  return str(health, "state") ?? (health === null ? HEALTH_NO_DATA : null);
}

function rowOf(p: DebugPod): FleetRow {
  const m = field(p, "metricsInUse");
  const prefix = field(p, "prefix");
  return {
    name: p.name,
    namespace: p.namespace,
    address: p.address,
    models: p.models,
    ready: p.ready,
    inflight: p.inflight.requests,
    kvCacheUsage: num(m, "kvCacheUsage"),
    waiting: num(m, "requestsWaiting"),
    running: num(m, "requestsRunning"),
    enginePrefixHitRate: ratio(num(m, "prefixCacheHitsTotal"), num(m, "prefixCacheQueriesTotal")),
    lastScrapeAgeMs: num(p, "lastScrapeAgeMs"),
    blocks: {
      event: num(prefix, "eventBlocks"),
      approximate: num(prefix, "approximateBlocks"),
      speculative: num(prefix, "speculativeBlocks"),
    },
    kvEvents: kvEventsOf(prefix),
    health: healthOf(field(p, "health")),
  };
}

/** The fleet rows (by name) and totals of `state`. */
export function fleetOf(state: DebugState): { rows: FleetRow[]; totals: FleetTotals } {
  const rows = state.pods
    .map(rowOf)
    .sort((a, b) => a.name.localeCompare(b.name) || a.address.localeCompare(b.address));
  let hits = 0;
  let queries = 0;
  for (const p of state.pods) {
    const m = field(p, "metricsInUse");
    const h = num(m, "prefixCacheHitsTotal");
    const q = num(m, "prefixCacheQueriesTotal");
    if (h !== null && q !== null) {
      hits += h;
      queries += q;
    }
  }
  return {
    rows,
    totals: {
      pods: rows.length,
      readyPods: rows.filter((r) => r.ready).length,
      inflight: rows.reduce((a, r) => a + r.inflight, 0),
      enginePrefixHitRate: ratio(hits, queries),
    },
  };
}
