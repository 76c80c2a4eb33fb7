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
  readonly observer: Required<Pick<KvEventsObserver, StateHook>>;
  /** `inner` (the metrics), with this log's calls after its own on the hooks that move the state. */
  around(inner: KvEventsObserver): KvEventsObserver;
  /** Forget the pods no longer in `snapshot` (their next connect is logged as a first one). */
  follow(snapshot: ClusterSnapshot): void;
}

/** A hook calling `first` (if any), then `then`, with the same arguments. */
function both<A extends unknown[]>(first: ((...a: A) => void) | undefined, then: (...a: A) => void) {
  return (...a: A): void => {
    first?.(...a);
    then(...a);
  };
}

/** The observer hooks that move a pod's logged state. */
type StateHook = "onConnect" | "onDisconnect" | "onSocketError" | "onGap" | "onReplay" | "onResync";

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
  const observer: KvEventStateLog["observer"] = {
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
  };
  return {
    observer,
    around: (inner) => ({
      ...inner,
      onConnect: both(inner.onConnect, observer.onConnect),
      onDisconnect: both(inner.onDisconnect, observer.onDisconnect),
      onSocketError: both(inner.onSocketError, observer.onSocketError),
      onGap: both(inner.onGap, observer.onGap),
      onReplay: both(inner.onReplay, observer.onReplay),
      onResync: both(inner.onResync, observer.onResync),
    }),
    follow(snapshot) {
      for (const key of [...states.keys()]) if (!snapshot.pods.has(key)) states.forget(key);
    },
  };
}
