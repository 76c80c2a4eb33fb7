/**
 * Is a model's fleet saturated? Flow control admits a request straight to the strategies only when it is not; else
 * the request waits in the flow queue. Judged per ready pod from signals kvroute already has:
 *
 * - the engine's waiting queue (`requestsWaiting`) above `queueDepth` (default 5), or its KV-cache usage above
 *   `kvCacheUsage` (default 0.8): the engine itself says it is behind — the inference extension's two signals and
 *   defaults;
 * - kvroute's own in-flight prompt tokens on the pod (the load tracker) above `kvCacheUsage` × the pod's token
 *   capacity: a look-ahead for work routed since the last scrape, which the engine's figures cannot show yet;
 * - kvroute's own in-flight requests on the pod at or above its running seats + {@link SEATS_MARGIN}: the engine
 *   would have to queue the next one. This keeps the ENGINE's queue short, which is what a queued interactive
 *   request's TTFT depends on (the token bound above is about KV memory, and lets a pod take many more requests
 *   than it runs). Seats: `--flow-pod-max-running` when set, else learned from the pod's metrics
 *   (`running-seats.ts`); unknown seats: the signal is off for the pod. The load tracker counts a pick in the
 *   same synchronous step, so a burst of dispatches sees each dispatched request at once, between scrapes;
 * - the prefill delay kvroute has queued on the pod (its dispatched requests' prompt tokens the pod has not
 *   prefilled yet, over the pod's measured prefill throughput: `prefill-backlog.ts`) above `maxPrefillDelayMs`:
 *   a request admitted now would wait that long for its prefill to start, behind work the pod already took. Off
 *   while the pod's throughput is unknown, and when `maxPrefillDelayMs` is 0. Held synchronously at the pick too.
 *
 * A pod with room makes the model not saturated (one pod with room is enough: the strategies will find it).
 *
 * Room reserved for the top band ({@link TopBandReserve}, `top-band.ts`): a request of a band below its model's top
 * band is judged against stricter cuts of the two look-aheads that bound TTFT, a share of the prefill-delay budget
 * and (configured seats only) fewer in-flight requests than the seats allow, so the top band's arrivals find room
 * at once. A pod full for the
 * lower band only is `reserved`; a model whose pods are all full or reserved, with one reserved, is `reserved`
 * (held back, counted apart). An idle pod has room for every band.
 *
 * Stale or missing metrics are UNKNOWN, never idle. The inference extension counts such a pod as saturated; here an
 * unknown pod is judged by the signals kvroute still has, its own in-flight token work against the capacity and its
 * in-flight requests against the seats and its queued prefill delay (seats and throughput learned before the metrics
 * went stale: they do not change while the engine runs), so
 * a fleet whose metrics are not scraped at all (a static endpoints file, scraping off) still flows, bounded by that
 * work, instead of queueing every request until its TTL. An unknown pod is never counted as free headroom on the
 * strength of missing figures: with no capacity known from the flag or the engine, the default capacity bounds it.
 * The verdicts say `unknown-…` so a metric counts them apart from measured ones.
 *
 * Capacity of a pod, in tokens: `--flow-pod-capacity-tokens` when set, else what the engine reported in
 * `cache_config_info` (block size × GPU blocks, from its last good scrape even when stale: it does not change while
 * the engine runs), else {@link DEFAULT_POD_CAPACITY_TOKENS}.
 *
 * Pure: no clock, no I/O; the caller hands in the views.
 *
 * @module
 */
import type { EngineMetrics, Pod, PodLoad } from "../../cluster";

/** The inference extension's default engine waiting-queue threshold. */
export const DEFAULT_QUEUE_DEPTH_THRESHOLD = 5;
/** The inference extension's default KV-cache usage threshold (also the share of token capacity kvroute fills). */
export const DEFAULT_KV_CACHE_THRESHOLD = 0.8;
/** Token capacity of a pod that reports none and has no override: a modest single-GPU KV cache. */
export const DEFAULT_POD_CAPACITY_TOKENS = 65_536;
/**
 * Requests kvroute lets wait at a pod's engine beyond its seats: one, so a seat the engine frees is refilled at once
 * rather than after kvroute sees the finished request's stream end, and a dispatched request waits behind nobody.
 */
export const SEATS_MARGIN = 1;

/**
 * Room kept on every pod for its model's top band: what a request of a lower band may not take. Both 0: none (every
 * band is judged as the top).
 */
export interface TopBandReserve {
  /**
   * In-flight requests a lower band may have on a pod: this many fewer than the top band (seats + margin). Only
   * with configured seats (`podMaxRunning`).
   */
  readonly seats: number;
  /** Share (0..1) of `maxPrefillDelayMs` kept for the top band: a lower band is cut at (1 − share) × the max. */
  readonly prefillShare: number;
}

/** Thresholds of the detector. */
export interface SaturationThresholds {
  /** Engine waiting requests above which a pod is full. */
  readonly queueDepth: number;
  /** KV-cache usage (0..1) above which a pod is full; also the share of token capacity in-flight work may fill. */
  readonly kvCacheUsage: number;
  /** Token capacity of every pod (override); undefined: from the engine, else the default. */
  readonly podCapacityTokens: number | undefined;
  /** Running seats of every pod (override); undefined: learned from the engine, unknown until then. */
  readonly podMaxRunning?: number | undefined;
  /** Queued prefill delay (ms) above which a pod is full; 0 or undefined: no such signal. */
  readonly maxPrefillDelayMs?: number | undefined;
  /** Room reserved for the top band; undefined: none. */
  readonly reserve?: TopBandReserve | undefined;
}

/** The signals of one pod. */
export interface SaturationSignals {
  /** Fresh engine metrics, undefined when stale or missing. */
  fresh(podKey: string): EngineMetrics | undefined;
  /** The last good metrics, fresh or not (for the engine's reported capacity). */
  lastKnown(podKey: string): EngineMetrics | undefined;
  /** kvroute's in-flight work on the pod. */
  load(podKey: string): PodLoad;
  /** The pod's learned running seats, undefined while unknown (absent: never known). */
  runningSeats?(podKey: string): number | undefined;
  /** The prefill delay queued on the pod, ms (`waiting`: the engine's fresh queue length); undefined: unknown. */
  prefillDelayMs?(podKey: string, waiting: number | undefined): number | undefined;
}

/**
 * One pod: room or full, on fresh metrics or (unknown) on kvroute's own in-flight work alone; `reserved`: full for
 * a lower band, its only room reserved for the top band.
 */
export type PodVerdict = "room" | "full" | "unknown-room" | "unknown-full" | "reserved";

/**
 * A model: `free` (a pod with fresh metrics has room), `unknown-free` (only pods without fresh metrics have room, by
 * in-flight work), `reserved` (no pod has room for this lower band; one has room reserved for the top band),
 * `unknown-saturated` (no pod has room and some had no fresh metrics), `saturated` (every pod measured full).
 */
export type SaturationResult = "free" | "unknown-free" | "reserved" | "unknown-saturated" | "saturated";

/** Whether a result holds requests back. */
export function isSaturated(result: SaturationResult): boolean {
  return result === "saturated" || result === "unknown-saturated" || result === "reserved";
}

/** The token capacity of a pod, as the module comment orders the sources. */
export function podCapacityTokens(
  podKey: string,
  signals: SaturationSignals,
  thresholds: SaturationThresholds,
): number {
  if (thresholds.podCapacityTokens !== undefined) return thresholds.podCapacityTokens;
  const m = signals.lastKnown(podKey);
  if (m?.blockSize !== undefined && m.numGpuBlocks !== undefined && m.blockSize * m.numGpuBlocks > 0)
    return m.blockSize * m.numGpuBlocks;
  return DEFAULT_POD_CAPACITY_TOKENS;
}

/** The running seats of a pod, as the module comment orders the sources; Infinity while unknown. */
export function podSeats(
  podKey: string,
  signals: SaturationSignals,
  thresholds: SaturationThresholds,
): number {
  return thresholds.podMaxRunning ?? signals.runningSeats?.(podKey) ?? Number.POSITIVE_INFINITY;
}

/** The prefill delay queued on the pod (ms), or undefined when the signal is off or the throughput unknown. */
function prefillDelay(
  podKey: string,
  m: EngineMetrics | undefined,
  signals: SaturationSignals,
  thresholds: SaturationThresholds,
): number | undefined {
  const max = thresholds.maxPrefillDelayMs;
  if (max === undefined || !(max > 0) || signals.prefillDelayMs === undefined) return undefined;
  return signals.prefillDelayMs(podKey, m?.requestsWaiting);
}

/**
 * The verdict on one pod for a request of the model's top band, or (`lower`) of a band below it, which must leave
 * the {@link TopBandReserve} free.
 */
export function podVerdict(
  podKey: string,
  signals: SaturationSignals,
  thresholds: SaturationThresholds,
  lower = false,
): PodVerdict {
  const { tokens, requests } = signals.load(podKey);
  const m = signals.fresh(podKey);
  const behind =
    m !== undefined &&
    ((m.requestsWaiting ?? 0) > thresholds.queueDepth || (m.kvCacheUsage ?? 0) > thresholds.kvCacheUsage);
  // Nothing in flight is never over capacity: the capacity, seat and delay lookups are skipped on the idle path,
  // and an idle pod has room for every band, reserve or not.
  const overTokens =
    tokens > 0 && tokens > thresholds.kvCacheUsage * podCapacityTokens(podKey, signals, thresholds);
  if (behind || overTokens) return m === undefined ? "unknown-full" : "full";
  if (requests > 0) {
    const seats = podSeats(podKey, signals, thresholds) + SEATS_MARGIN;
    const delay = prefillDelay(podKey, m, signals, thresholds);
    const max = thresholds.maxPrefillDelayMs ?? 0;
    if (requests >= seats || (delay !== undefined && delay > max))
      return m === undefined ? "unknown-full" : "full";
    const h = thresholds.reserve;
    if (
      lower &&
      h !== undefined &&
      // Seats only when configured: a learned figure grows only while the pod is filled past it, so a lower band
      // held below it would freeze a figure learned low (a budget-limited or transient queue) for good.
      ((h.seats > 0 && thresholds.podMaxRunning !== undefined && requests >= seats - h.seats) ||
        (delay !== undefined && h.prefillShare > 0 && delay > (1 - h.prefillShare) * max))
    )
      return "reserved";
  }
  return m === undefined ? "unknown-room" : "room";
}

/**
 * The pods of `pods` with room for the request (verdict `room` or `unknown-room`), in their order: where a request
 * flow control admitted goes. The model is judged free when ONE pod has room, and a strategy left with every pod
 * would send the request by its own score (fewest requests, a prefix hit) to a pod that is full on the prefill
 * delay or the seats: on the overload benchmark, the pod least-request favoured carried most of the interactive
 * band's TTFT tail. When no pod has room (the fleet changed since the check), `pods` unchanged: the strategy decides
 * as it did before flow control. Allocates only when some pod is full.
 */
export function podsWithRoom(
  pods: readonly Pod[],
  signals: SaturationSignals,
  thresholds: SaturationThresholds,
  lower = false,
): readonly Pod[] {
  let roomy: Pod[] | undefined;
  for (let i = 0; i < pods.length; i++) {
    const pod = pods[i] as Pod;
    const v = podVerdict(pod.key, signals, thresholds, lower);
    if (v === "room" || v === "unknown-room") roomy?.push(pod);
    else roomy ??= pods.slice(0, i);
  }
  return roomy === undefined || roomy.length === 0 ? pods : roomy;
}

/**
 * The verdict on a model from its pods (only ready ones count). No ready pod: `free`, since waiting cannot help and
 * the director answers such a request at once.
 */
export function modelSaturation(
  pods: readonly Pod[],
  signals: SaturationSignals,
  thresholds: SaturationThresholds,
  lower = false,
): SaturationResult {
  let unknownRoom = false;
  let unknown = false;
  let reserved = false;
  let anyReady = false;
  for (const pod of pods) {
    if (!pod.ready) continue;
    anyReady = true;
    const v = podVerdict(pod.key, signals, thresholds, lower);
    if (v === "room") return "free";
    if (v === "unknown-room") unknownRoom = true;
    else if (v === "unknown-full") unknown = true;
    else if (v === "reserved") reserved = true;
  }
  if (!anyReady) return "free";
  if (unknownRoom) return "unknown-free";
  if (reserved) return "reserved";
  return unknown ? "unknown-saturated" : "saturated";
}
