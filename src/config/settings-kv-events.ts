/**
 * The KV-event rows of the settings table (vLLM's ZeroMQ publisher and replay ports, replay pacing, the event
 * index bound and the speculative credit given until events arrive), kept apart so `settings.ts` stays one screen
 * per concern. Spread into `SETTINGS`; the order here is their order in `--help`.
 *
 * @module
 */
import type { Config } from "./config";
import type { Setting } from "./settings";
import { boolean, integer } from "./values";

/** The `Config` fields these rows fill. */
export type KvEventsSettingKey =
  | "kvEventsPort"
  | "kvEventsReplayPort"
  | "kvEventsReplayTimeoutMs"
  | "kvEventsMaxConcurrentReplays"
  | "kvEventsStatic"
  | "kvEventsMaxBlocks"
  | "prefixSpeculativeTtlMs";

/** KV-event subscription and KV-event index settings. */
export const KV_EVENTS_SETTINGS: { readonly [K in KvEventsSettingKey]: Setting<Config[K]> } = {
  kvEventsPort: {
    flag: "kv-events-port",
    env: "KVROUTE_KV_EVENTS_PORT",
    type: integer({ min: 1, max: 65_535, default: 5557 }),
    description:
      "vLLM KV-event PUB port; an endpoint that is data-parallel rank r of its pod is followed at port + r.",
  },
  kvEventsReplayPort: {
    flag: "kv-events-replay-port",
    env: "KVROUTE_KV_EVENTS_REPLAY_PORT",
    type: integer({ min: 1, max: 65_535, default: 5558 }),
    description:
      "vLLM KV-event replay (ROUTER) port; rank r at port + r (with DP, keep it at or above the PUB port + ranks).",
  },
  kvEventsReplayTimeoutMs: {
    flag: "kv-events-replay-timeout-ms",
    env: "KVROUTE_KV_EVENTS_REPLAY_TIMEOUT_MS",
    type: integer({ min: 10, max: 600_000, default: 5000 }),
    description:
      "KV-event replay: most wait for each reply; then the replay is retried with backoff (1 s to 30 s).",
  },
  kvEventsMaxConcurrentReplays: {
    flag: "kv-events-max-concurrent-replays",
    env: "KVROUTE_KV_EVENTS_MAX_CONCURRENT_REPLAYS",
    type: integer({ min: 1, max: 1024, default: 4 }),
    description:
      "KV-event replays in flight across pods; beyond it pods wait their turn with live batches queued.",
  },
  kvEventsStatic: {
    flag: "kv-events-static",
    env: "KVROUTE_KV_EVENTS_STATIC",
    type: boolean(false),
    description: "Standalone mode: subscribe to KV events from every endpoint in the file.",
  },
  kvEventsMaxBlocks: {
    flag: "kv-events-max-blocks",
    env: "KVROUTE_KV_EVENTS_MAX_BLOCKS",
    type: integer({ min: 1, max: 100_000_000, default: 2_000_000 }),
    description: "Most blocks in the KV-event index across pods (least recently used evicted beyond).",
  },
  prefixSpeculativeTtlMs: {
    flag: "prefix-speculative-ttl-ms",
    env: "KVROUTE_PREFIX_SPECULATIVE_TTL_MS",
    type: integer({ min: 0, max: 600_000, default: 2000 }),
    description:
      "Publishing pods also count blocks routed there within this many ms, until events arrive; 0 = off.",
  },
};
