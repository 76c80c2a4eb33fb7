/**
 * The prefill backlog kvroute has queued per pod (`prefix-affinity`'s look-ahead; flow control's prefill-delay
 * signal): the uncached prompt tokens of its picks that the pod has not prefilled yet. Each pick holds its share
 * until its request ends (given back exactly once) or until its first token shows the pod has prefilled it; while
 * it is held, the share drains at the pod's prefill throughput behind the shares queued before it, because a
 * request that is already decoding adds nothing to the next prompt's wait, and a request stays in flight for its
 * whole generation, several times its prefill.
 *
 * @module
 */

/** One pick's share, given back exactly once. */
export interface HeldTokens {
  /** Give the share back (only the first call has an effect). */
  release(): void;
  /** Carry the share to `podKey` (the pod that actually served), queued there at `nowMs`; no-op once released. */
  moveTo(podKey: string, tokens: number, nowMs: number, tokensPerSecond: number | undefined): void;
  /**
   * The request's first token reached kvroute at `nowMs`: the pod has prefilled this share, and (it prefills in
   * arrival order) every share queued before it. They stop counting; the pod's later shares drain from `nowMs`
   * instead of from where the model had them, so the backlog is re-anchored on what the pod really did. Only the
   * first call has an effect, and none after a release.
   */
  prefilled(nowMs: number): void;
}

/** Per-pod backlogs of the held shares. */
export interface UncachedInflight {
  /**
   * Tokens of the pod's held shares not yet drained at `nowMs` (0 when none). `waiting`, the engine's own queue
   * length from fresh metrics, corrects the drain model: the pod has not started the newest `waiting` requests,
   * so the newest `waiting` shares count in full whatever the model says.
   */
  tokens(podKey: string, nowMs: number, waiting?: number): number;
  /**
   * Hold `tokens` (≥ 0; anything else counts 0) on `podKey` from `nowMs`, draining at `tokensPerSecond` after the
   * pod's earlier shares; undefined throughput: it counts in full until released.
   */
  reserve(podKey: string, tokens: number, nowMs: number, tokensPerSecond: number | undefined): HeldTokens;
}

interface Share {
  readonly tokens: number;
  /** Tokens drained per ms; 0: never drains. */
  readonly perMs: number;
  /** When it was queued on the pod, ms. */
  readonly queuedMs: number;
  /** When the pod will have prefilled all of it (fluid FIFO), ms; Infinity when it never drains. */
  doneMs: number;
}

interface PodQueue {
  readonly shares: Set<Share>;
  /** When the last share queued on the pod is done (its successor starts draining then). */
  tailMs: number;
}

/**
 * Create an empty tracker. Bounded by the requests in flight: a pod's entry exists only while a share is held on
 * it, and each share belongs to one pick whose release removes it. A share released before it drained (the
 * request was cancelled) leaves its successors' drain times as they were: they count a little longer than the
 * pod needs, the safe side for a gate, until the next first token on the pod re-anchors them.
 */
export function createUncachedInflight(): UncachedInflight {
  const byPod = new Map<string, PodQueue>();
  const clean = (tokens: number): number => (Number.isFinite(tokens) && tokens > 0 ? Math.ceil(tokens) : 0);
  const add = (podKey: string, tokens: number, nowMs: number, perSecond: number | undefined): Share => {
    let q = byPod.get(podKey);
    if (q === undefined) {
      q = { shares: new Set(), tailMs: nowMs };
      byPod.set(podKey, q);
    }
    const perMs =
      perSecond !== undefined && Number.isFinite(perSecond) && perSecond > 0 ? perSecond / 1000 : 0;
    const startMs = Math.max(nowMs, q.tailMs);
    const doneMs = perMs > 0 ? startMs + tokens / perMs : Infinity;
    if (perMs > 0) q.tailMs = doneMs;
    const share = { tokens, perMs, queuedMs: nowMs, doneMs };
    q.shares.add(share);
    return share;
  };
  /** `share` and every share before it on the pod are prefilled at `nowMs`: drop them, re-anchor the rest. */
  const prefilledAt = (podKey: string, share: Share, nowMs: number): void => {
    const q = byPod.get(podKey);
    if (q === undefined || !q.shares.has(share)) return;
    // Insertion order is queue order: everything up to and including `share` is done.
    for (const s of q.shares) {
      q.shares.delete(s);
      if (s === share) break;
    }
    let tail = nowMs;
    for (const s of q.shares) {
      if (s.perMs === 0) continue;
      s.doneMs = Math.max(tail, s.queuedMs) + s.tokens / s.perMs;
      tail = s.doneMs;
    }
    q.tailMs = tail;
    if (q.shares.size === 0) byPod.delete(podKey);
  };
  const remove = (podKey: string, share: Share): void => {
    const q = byPod.get(podKey);
    if (q === undefined) return;
    q.shares.delete(share);
    if (q.shares.size === 0) byPod.delete(podKey);
  };
  return {
    tokens(podKey, nowMs, waiting = 0) {
      const q = byPod.get(podKey);
      if (q === undefined) return 0;
      let modelled = 0;
      for (const s of q.shares) {
        if (s.perMs === 0) modelled += s.tokens;
        else if (s.doneMs > nowMs) modelled += Math.min(s.tokens, (s.doneMs - nowMs) * s.perMs);
      }
      const k = Number.isFinite(waiting) && waiting > 0 ? Math.min(Math.floor(waiting), q.shares.size) : 0;
      if (k === 0) return modelled;
      // Insertion order is queue order (a move re-queues the share at the end, where it now is).
      let newest = 0;
      let skip = q.shares.size - k;
      for (const s of q.shares) {
        if (skip > 0) skip--;
        else newest += s.tokens;
      }
      return Math.max(modelled, newest);
    },
    reserve(podKey, tokens, nowMs, perSecond) {
      let at = podKey;
      let share = add(at, clean(tokens), nowMs, perSecond);
      let released = false;
      let prefilled = false;
      return {
        release() {
          if (released) return;
          released = true;
          remove(at, share);
        },
        moveTo(to, moved, movedAtMs, movedPerSecond) {
          // Once prefilled there is nothing left to carry: the serving pod did the work already.
          if (released || prefilled) return;
          remove(at, share);
          at = to;
          share = add(at, clean(moved), movedAtMs, movedPerSecond);
        },
        prefilled(nowMs) {
          if (released || prefilled) return;
          prefilled = true;
          prefilledAt(at, share, nowMs);
        },
      };
    },
  };
}
