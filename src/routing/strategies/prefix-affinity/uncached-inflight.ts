/**
 * The uncached prompt tokens `prefix-affinity` has in flight per pod: the prefill work its picks queued there
 * that the pod's cache did not already cover. Each pick holds its share until its request ends.
 *
 * @module
 */

/** One pick's share, given back exactly once. */
export interface HeldTokens {
  /** Give the tokens back (only the first call has an effect). */
  release(): void;
  /** Carry the share to `podKey` (the pod that actually served), now counting `tokens`; no-op once released. */
  moveTo(podKey: string, tokens: number): void;
}

/** Per-pod sums of the held shares. */
export interface UncachedInflight {
  /** Uncached tokens held on the pod (0 when none). */
  tokens(podKey: string): number;
  /** Hold `tokens` (≥ 0; anything else counts 0) on `podKey`. */
  reserve(podKey: string, tokens: number): HeldTokens;
}

/**
 * Create an empty tracker. Bounded by the requests in flight: a pod's entry exists only while something is held
 * on it, and each held share belongs to one pick whose release removes it.
 */
export function createUncachedInflight(): UncachedInflight {
  const byPod = new Map<string, number>();
  const add = (podKey: string, delta: number): void => {
    const next = (byPod.get(podKey) ?? 0) + delta;
    // Sums of whole token counts: exact in doubles, so the last release lands on 0 and the entry goes.
    if (next <= 0) byPod.delete(podKey);
    else byPod.set(podKey, next);
  };
  return {
    tokens: (podKey) => byPod.get(podKey) ?? 0,
    reserve(podKey, tokens) {
      let at = podKey;
      let held = Number.isFinite(tokens) && tokens > 0 ? Math.ceil(tokens) : 0;
      let released = false;
      add(at, held);
      return {
        release() {
          if (released) return;
          released = true;
          add(at, -held);
        },
        moveTo(to, moved) {
          if (released) return;
          add(at, -held);
          at = to;
          held = Number.isFinite(moved) && moved > 0 ? Math.ceil(moved) : 0;
          add(at, held);
        },
      };
    },
  };
}
