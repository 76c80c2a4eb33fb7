/**
 * Several kvroute replicas share one picture of pod load through Redis, in AIBrix's format
 * (`pkg/cache/cache_gateway_snapshot.go`): every tick each replica writes one hash per pod,
 * `aibrix:pod:<gateway>:<ns>:<pod>` (`requests_running` and identity fields, PEXPIRE 500 ms so a dead
 * replica's numbers vanish), then reads every replica's hashes and sums the others' `requests_running` per
 * pod. The sum is 100–500 ms old; a Redis outage empties it (counted), never blocks a decision.
 *
 * @module
 */
import type { ClusterStore, LoadTracker } from "../cluster";
import type { RedisConnection } from "./redis";

/** AIBrix's key prefix of the per-pod load hashes. */
export const REPLICA_LOAD_PREFIX = "aibrix:pod:";
const TTL_MS = 500;
const SCAN_COUNT = 500;
const HGETALL_BATCH = 100;
/** Bound on keys read per tick (a runaway keyspace must not stall the loop). */
const MAX_KEYS = 100_000;

/** Options of `createReplicaLoadSync`. */
export interface ReplicaLoadOptions {
  readonly redis: RedisConnection;
  /** This replica's name (`POD_NAME`): its own hashes are skipped when summing. */
  readonly gatewayName: string;
  readonly cluster: ClusterStore;
  readonly load: LoadTracker;
  /** Tick period, ms (AIBrix: 100). */
  readonly intervalMs?: number;
  /** A tick failed (Redis down or slow); the remote view is emptied. */
  readonly onFailure?: (reason: string) => void;
}

/** The running sync. */
export interface ReplicaLoadSync {
  /** Requests other live replicas have in flight on the pod (`ns/name`); 0 when unknown. */
  remote(podKey: string): number;
  /** One publish + read cycle (the timer calls it; tests call it directly). Never rejects. */
  tick(): Promise<void>;
  start(): void;
  stop(): Promise<void>;
}

/** `15:04:05.000`, Go's layout AIBrix writes in `update_time`. */
function clock(d: Date): string {
  const p = (n: number, w = 2): string => String(n).padStart(w, "0");
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`;
}

/** Create the sync (not started). */
export function createReplicaLoadSync(o: ReplicaLoadOptions): ReplicaLoadSync {
  let remote = new Map<string, number>();
  let timer: NodeJS.Timeout | undefined;
  let running: Promise<void> = Promise.resolve();

  async function publish(): Promise<boolean> {
    const pods = [...o.cluster.snapshot().pods.values()];
    if (pods.length === 0) return true;
    const now = clock(new Date());
    const r = await o.redis.run((c) => {
      const p = c.pipeline();
      for (const pod of pods) {
        const key = `${REPLICA_LOAD_PREFIX}${o.gatewayName}:${pod.namespace}:${pod.name}`;
        p.hset(key, {
          gateway_instance_id: o.gatewayName,
          pod_uid: "",
          pod_name: pod.name,
          namespace: pod.namespace,
          node_name: "",
          requests_running: String(o.load.get(pod.key).requests),
          seq: "0",
          update_time: now,
        });
        p.pexpire(key, TTL_MS);
      }
      return p.exec();
    });
    return r.ok;
  }

  async function read(): Promise<Map<string, number> | undefined> {
    const keys: string[] = [];
    let cursor = "0";
    do {
      const r = await o.redis.run((c) =>
        c.scan(cursor, "MATCH", `${REPLICA_LOAD_PREFIX}*`, "COUNT", SCAN_COUNT),
      );
      if (!r.ok) return undefined;
      cursor = r.value[0];
      keys.push(...r.value[1]);
    } while (cursor !== "0" && keys.length < MAX_KEYS);
    const sums = new Map<string, number>();
    for (let i = 0; i < keys.length; i += HGETALL_BATCH) {
      const batch = keys.slice(i, i + HGETALL_BATCH);
      const r = await o.redis.run((c) => {
        const p = c.pipeline();
        for (const k of batch) p.hgetall(k);
        return p.exec();
      });
      if (!r.ok || !r.value) return undefined;
      for (const [err, fields] of r.value) {
        if (err || typeof fields !== "object" || fields === null) continue;
        const f = fields as Record<string, string>;
        if (f["gateway_instance_id"] === o.gatewayName) continue;
        const n = Number(f["requests_running"]);
        if (!Number.isFinite(n) || n <= 0 || !f["namespace"] || !f["pod_name"]) continue;
        const key = `${f["namespace"]}/${f["pod_name"]}`;
        sums.set(key, (sums.get(key) ?? 0) + n);
      }
    }
    return sums;
  }

  async function cycle(): Promise<void> {
    if (!o.redis.ready()) {
      if (remote.size > 0) remote = new Map();
      o.onFailure?.("unavailable");
      return;
    }
    const published = await publish();
    const sums = await read();
    if (!published || !sums) {
      remote = new Map();
      o.onFailure?.(published ? "read-failed" : "publish-failed");
      return;
    }
    remote = sums;
  }

  return {
    remote: (podKey) => remote.get(podKey) ?? 0,
    tick() {
      // Serialised: a slow Redis makes ticks wait, never pile up.
      running = running.then(cycle, cycle);
      return running;
    },
    start() {
      if (timer) return;
      const interval = o.intervalMs ?? 100;
      const loop = (): void => {
        timer = setTimeout(() => {
          void cycle().finally(() => {
            if (timer) loop();
          });
        }, interval);
        timer.unref();
      };
      loop();
    },
    async stop() {
      if (timer) clearTimeout(timer);
      timer = undefined;
      await running;
    },
  };
}
