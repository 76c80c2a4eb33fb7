/**
 * The KV-event stream of each pod, logged once per change (`createStateChangeLog`): `kv events: connected` (info)
 * the first time its SUB socket connects; `kv events: stream degraded` (warn) with the reason class when the
 * socket disconnects or fails, a gap opens, a replay fails or the pod's indexed blocks are dropped (a resync); `kv events: stream
 * recovered` (info) once it is connected and caught up again (a reconnect, or a replay that applied). Each failure
 * in between is counted by the metrics (`kvroute_kv_event_issues_total` and friends), never logged again.
 *
 * @module
 */
import type { ClusterSnapshot } from "./cluster";
import type { KvEventsObserver } from "./kvevents";
import type { Logger } from "./observability";
import { createStateChangeLog } from "./state-change-log";

/** The observer calls that move a pod's logged state, and the fleet follower that forgets departed pods. */
export interface KvEventStateLog {
  readonly observer: Required<
    Pick<KvEventsObserver, "onConnect" | "onDisconnect" | "onSocketError" | "onGap" | "onReplay" | "onResync">
  >;
  /** Forget the pods no longer in `snapshot` (their next connect is logged as a first one). */
  follow(snapshot: ClusterSnapshot): void;
}

/** Create the KV-event state log; `podName` turns a pod key into the name the lines show. */
export function createKvEventStateLog(log: Logger, podName: (key: string) => string): KvEventStateLog {
  const states = createStateChangeLog(log, {
    downMsg: "kv events: stream degraded; prefix matches on the pod may miss until it recovers",
    upMsg: "kv events: stream recovered",
    firstUpMsg: "kv events: connected",
    keyLabel: podName,
    // Fleets of a few hundred pods connect at start: room for them, still bounded when all of them flap.
    maxLines: 200,
  });
  return {
    observer: {
      onConnect: (key) => states.up(key),
      onDisconnect: (key) => states.down(key, { reason: "disconnected" }),
      onSocketError: (key, failure) => states.down(key, { reason: `socket-${failure}` }),
      onGap: (key) => states.down(key, { reason: "gap" }),
      onReplay(key, result) {
        if (result === "ok" || result === "partial") states.up(key);
        else if (result === "timeout" || result === "failed") states.down(key, { reason: `replay-${result}` });
        // `restart`: a resync and a replay from 0 follow; they say how it ends.
      },
      onResync: (key, reason) => states.down(key, { reason: `resync-${reason}` }),
    },
    follow(snapshot) {
      for (const key of [...states.keys()]) if (!snapshot.pods.has(key)) states.forget(key);
    },
  };
}
