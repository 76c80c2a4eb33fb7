/**
 * The KV-event stream of each pod, logged once per change (`createStateChangeLog`): `kv events: connected` (info)
 * the first time its SUB socket connects; `kv events: stream degraded` (warn) with the reason class when the
 * socket disconnects or fails, a gap opens, a replay fails or the pod's indexed blocks are dropped (a resync); `kv events: stream
 * recovered` (info) once it is connected and caught up again (a reconnect, or a replay that applied). Each failure
 * in between is counted by the metrics (`kvroute_kv_event_issues_total` and friends), never logged again.
 *
 * A batch that does not decode (bad msgpack, a wrong shape, a wrong frame count) leaves the stream up, so it moves
 * no state; but an engine that publishes only such batches would look healthy in the logs. So the first one of a
 * pod writes `kv events: undecodable batch dropped` (warn, reason class and a short detail), and the next one is
 * written again only after the pod's stream was degraded and recovered (or the pod left and came back): a flood of
 * bad batches writes one line. These lines share the state lines' budget.
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
type StateHook =
  "onConnect" | "onDisconnect" | "onSocketError" | "onGap" | "onReplay" | "onResync" | "onDecodeError";

/** Longest decode detail on a line: the decoder's messages are short, a library's could be long. */
const MAX_DETAIL = 120;

/** The message of a pod's first undecodable batch. */
export const DECODE_ERROR_MSG =
  "kv events: undecodable batch dropped; more from the pod are only counted until its stream recovers";

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
  /** Pods whose undecodable batch is logged already (since they were first seen, or last recovered). */
  const decodeLogged = new Set<string>();
  const up = (key: string): void => {
    // A recovery re-arms the decode line: bad batches after it are news again.
    if (states.isDown(key)) decodeLogged.delete(key);
    states.up(key);
  };
  const observer: KvEventStateLog["observer"] = {
    onConnect: up,
    onDisconnect: (key) => states.down(key, { reason: "disconnected" }),
    onSocketError: (key, failure) => states.down(key, { reason: `socket-${failure}` }),
    onGap: (key) => states.down(key, { reason: "gap" }),
    onReplay(key, result) {
      if (result === "ok" || result === "partial") up(key);
      else if (result === "timeout" || result === "failed") states.down(key, { reason: `replay-${result}` });
      // `restart`: a resync and a replay from 0 follow; they say how it ends.
    },
    onResync: (key, reason) => states.down(key, { reason: `resync-${reason}` }),
    onDecodeError(key, reason, detail) {
      if (decodeLogged.has(key)) return;
      decodeLogged.add(key);
      const short = detail.length > MAX_DETAIL ? `${detail.slice(0, MAX_DETAIL - 1)}…` : detail;
      states.note(key, { reason: `decode-${reason}`, detail: short }, DECODE_ERROR_MSG);
    },
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
      onDecodeError: both(inner.onDecodeError, observer.onDecodeError),
    }),
    follow(snapshot) {
      for (const key of [...states.keys()]) if (!snapshot.pods.has(key)) states.forget(key);
      for (const key of decodeLogged) if (!snapshot.pods.has(key)) decodeLogged.delete(key);
    },
  };
}
