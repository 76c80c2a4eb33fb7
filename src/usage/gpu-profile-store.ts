/**
 * The GPU-profile store: refreshes profiles from Redis every 10 s (`SCAN aibrix:profile_*` + MGET per page),
 * keeps the newest by `created` per key, and keeps the last good set through an outage. The format and lookup
 * live in `src/cluster/gpu-profiles.ts` (a profile is the pod's capacity model; only its source is Redis).
 *
 * @module
 */
import type { GpuProfile, Pod } from "../cluster";
import type { RedisConnection, RedisFailureReason, RedisResult, UsageLogger } from "./redis";
import {
  DEFAULT_GPU_PROFILE_INTERVAL_MS,
  DEFAULT_GPU_PROFILE_MAX_KEYS,
  DEFAULT_GPU_PROFILE_SCAN_COUNT,
  GPU_PROFILE_SCAN_PATTERN,
  deploymentOf,
  gpuProfileKey,
  parseGpuProfile,
} from "../cluster";

/** Outcome of one {@link GpuProfiles.refresh}. */
export type GpuProfileRefreshResult =
  | {
      ok: true;
      /** Keys returned by SCAN (up to the cap). */
      keys: number;
      /** Profiles stored because new or newer. */
      updated: number;
      /** Values that failed to parse. */
      malformed: number;
      /** Keys that read as nil (vanished, or not a string). */
      missing: number;
      /** True when the key cap cut the scan short. */
      truncated: boolean;
    }
  | { ok: false; reason: RedisFailureReason };

/** Counters since creation. */
export interface GpuProfileStats {
  refreshes: number;
  failures: number;
  malformed: number;
  /** `now()` of the last successful refresh; undefined before the first. */
  lastSuccessMs: number | undefined;
  /** Stored profiles. */
  profiles: number;
}

/** Options for {@link createGpuProfiles}. */
export interface GpuProfilesOptions {
  redis: Pick<RedisConnection, "run">;
  log: UsageLogger;
  /** Refresh interval (default 10 s). */
  intervalMs?: number;
  /** Clock in ms (default `Date.now`). */
  now?: () => number;
  /** SCAN COUNT hint (default 100). */
  scanCount?: number;
  /** Cap on keys per refresh and on stored profiles (default 4096). */
  maxKeys?: number;
  /** Called after every refresh (tests await it instead of sleeping). */
  onRefresh?: (r: GpuProfileRefreshResult) => void;
}

/** The profile store. */
export interface GpuProfiles {
  /** Scan and load; never throws. Concurrent calls share one in-flight refresh. */
  refresh(): Promise<GpuProfileRefreshResult>;
  /** Refresh now, then every `intervalMs` (unref'd timer). Idempotent. */
  start(): void;
  /** Stop the timer. Idempotent. */
  stop(): void;
  /** The stored profile for `model` on `deployment`. */
  get(model: string, deployment: string): GpuProfile | undefined;
  /** The stored profile for `model` on the pod's deployment ({@link deploymentOf}). */
  getForPod(model: string, pod: Pick<Pod, "deployment">): GpuProfile | undefined;
  stats(): GpuProfileStats;
}

/** Create a profile store over an outage-safe Redis connection. Nothing runs until `refresh()` or `start()`. */
export function createGpuProfiles(opts: GpuProfilesOptions): GpuProfiles {
  const intervalMs = opts.intervalMs ?? DEFAULT_GPU_PROFILE_INTERVAL_MS;
  const now = opts.now ?? Date.now;
  const scanCount = Math.max(1, opts.scanCount ?? DEFAULT_GPU_PROFILE_SCAN_COUNT);
  const maxKeys = Math.max(1, opts.maxKeys ?? DEFAULT_GPU_PROFILE_MAX_KEYS);
  const profiles = new Map<string, GpuProfile>();
  const stats: GpuProfileStats = {
    refreshes: 0,
    failures: 0,
    malformed: 0,
    lastSuccessMs: undefined,
    profiles: 0,
  };
  let inflight: Promise<GpuProfileRefreshResult> | undefined;
  let timer: NodeJS.Timeout | undefined;
  let lastFailed = false;

  type Page = { keys: string[]; values: (string | null)[]; truncated: boolean };
  const scanAll = (): Promise<RedisResult<Page>> =>
    opts.redis.run(async (client): Promise<Page> => {
      const seen = new Set<string>();
      const keys: string[] = [];
      let cursor = "0";
      let truncated = false;
      do {
        const [next, batch] = await client.scan(
          cursor,
          "MATCH",
          GPU_PROFILE_SCAN_PATTERN,
          "COUNT",
          scanCount,
        );
        cursor = next;
        for (const k of batch) {
          if (seen.has(k)) continue; // SCAN may return a key more than once
          if (keys.length >= maxKeys) {
            truncated = true;
            break;
          }
          seen.add(k);
          keys.push(k);
        }
      } while (cursor !== "0" && !truncated);
      const values: (string | null)[] = [];
      for (let i = 0; i < keys.length; i += scanCount) {
        const chunk = keys.slice(i, i + scanCount);
        values.push(...(await client.mget(...chunk)));
      }
      return { keys, values, truncated };
    });

  const doRefresh = async (): Promise<GpuProfileRefreshResult> => {
    stats.refreshes++;
    const r = await scanAll();
    if (!r.ok) {
      stats.failures++;
      if (!lastFailed)
        opts.log.warn({ reason: r.reason }, "gpu profile refresh failed; keeping last profiles");
      lastFailed = true;
      return { ok: false, reason: r.reason };
    }
    if (lastFailed) opts.log.info({}, "gpu profile refresh recovered");
    lastFailed = false;
    const { keys, values, truncated } = r.value;
    let updated = 0;
    let malformed = 0;
    let missing = 0;
    for (let i = 0; i < keys.length; i++) {
      const key = keys[i] ?? "";
      const raw = values[i];
      if (raw === null || raw === undefined) {
        missing++;
        continue;
      }
      const p = parseGpuProfile(raw);
      if (!p.ok) {
        malformed++;
        opts.log.warn({ key, error: p.error }, "malformed gpu profile skipped");
        continue;
      }
      const existing = profiles.get(key);
      if (existing === undefined && profiles.size >= maxKeys) continue;
      if (existing === undefined || existing.created < p.value.created) {
        profiles.set(key, p.value);
        updated++;
      }
    }
    stats.malformed += malformed;
    stats.lastSuccessMs = now();
    stats.profiles = profiles.size;
    return { ok: true, keys: keys.length, updated, malformed, missing, truncated };
  };

  const refresh = (): Promise<GpuProfileRefreshResult> => {
    if (inflight !== undefined) return inflight;
    const p = doRefresh().then((r) => {
      inflight = undefined;
      opts.onRefresh?.(r);
      return r;
    });
    inflight = p;
    return p;
  };

  const get = (model: string, deployment: string): GpuProfile | undefined =>
    profiles.get(gpuProfileKey(model, deployment));

  return {
    refresh,
    start(): void {
      if (timer !== undefined) return;
      timer = setInterval(() => void refresh(), intervalMs);
      timer.unref();
      void refresh();
    },
    stop(): void {
      if (timer !== undefined) clearInterval(timer);
      timer = undefined;
    },
    get,
    getForPod(model, pod) {
      const d = deploymentOf(pod);
      return d === undefined ? undefined : get(model, d);
    },
    stats: () => ({ ...stats }),
  };
}
