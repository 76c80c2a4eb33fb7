/**
 * The prefill backlog kvroute has queued per pod (`prefix-affinity`'s look-ahead; flow control's prefill-delay signal): the uncached prompt tokens of its picks that the pod
 * has not prefilled yet. Each pick holds its share until its request ends (given back exactly once); while it is
 * held, the share drains at the pod's prefill throughput behind the shares queued before it, because a request
 * that is already decoding adds nothing to the next prompt's wait, and a request stays in flight for its whole
 * generation, several times its prefill.
 *
 * @module
 */

/** One pick's share, given back exactly once. */
export interface HeldTokens {
  /** Give the share back (only the first call has an effect). */
  release(): void;
  /** Carry the share to `podKey` (the pod that actually served), queued there at `nowMs`; no-op once released. */
  moveTo(podKey: string, tokens: number, nowMs: number, tokensPerSecond: number | undefined): void;
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
  /** When the pod will have prefilled all of it (fluid FIFO), ms; Infinity when it never drains. */
  readonly doneMs: number;
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
 * pod needs, the safe side for a gate.
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
    const share = { tokens, perMs, doneMs };
    q.shares.add(share);
    return share;
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
      return {
        release() {
          if (released) return;
          released = true;
          remove(at, share);
        },
        moveTo(to, moved, movedAtMs, movedPerSecond) {
          if (released) return;
          remove(at, share);
          at = to;
          share = add(at, clean(moved), movedAtMs, movedPerSecond);
        },
      };
    },
  };
}
