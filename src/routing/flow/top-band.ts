/**
 * The top band of each model: the highest priority among its requests of the last `windowMs`. Flow control keeps
 * room on every pod for that band (`saturation.ts`, `TopBandReserve`): a request of a lower band is dispatched
 * only while the pod is below a stricter cut, so a top-band arrival finds room at once instead of waiting for the
 * pod to drain past work of bands it outranks.
 *
 * Learned from the traffic, not configured, so a model whose requests all share one band (no priority header: all
 * 0) has that band as its top and nothing is held back: one band behaves exactly as without a reserve. A band stays
 * top for `windowMs` after its last request, long enough that an interactive tenant's quiet seconds do not hand its
 * room to batch work; after that, the next request sets the top again. A request of a higher band takes the top
 * at once.
 *
 * Bounded: one entry per model, at most {@link TOP_BAND_MAX_MODELS}; beyond, the model seen least recently is
 * forgotten (its next request is its top again, which holds nothing back: the safe side for throughput).
 *
 * @module
 */

/** Most models remembered. */
export const TOP_BAND_MAX_MODELS = 10_000;

/** Per-model top bands. */
export interface TopBands {
  /** A request of `priority` arrived for `model` at `nowMs`. */
  see(model: string, priority: number, nowMs: number): void;
  /** Whether `priority` is (at least) the model's top band at `nowMs`; true when the model has none. */
  isTop(model: string, priority: number, nowMs: number): boolean;
}

interface Top {
  readonly priority: number;
  /** The last request of that band, ms. */
  readonly seenMs: number;
}

/** Create an empty record; a band is top for `windowMs` after its last request. */
export function createTopBands(windowMs: number, maxModels = TOP_BAND_MAX_MODELS): TopBands {
  const tops = new Map<string, Top>();
  const current = (model: string, nowMs: number): Top | undefined => {
    const t = tops.get(model);
    // A clock that steps back counts as standing still (never expires early).
    return t !== undefined && nowMs - t.seenMs <= windowMs ? t : undefined;
  };
  return {
    see(model, priority, nowMs) {
      const t = current(model, nowMs);
      if (t !== undefined && priority < t.priority) return;
      // Re-inserted, so the map's order is least recently set first (the one forgotten at the bound).
      tops.delete(model);
      if (tops.size >= maxModels) {
        const oldest = tops.keys().next();
        if (!oldest.done) tops.delete(oldest.value);
      }
      tops.set(model, { priority, seenMs: Math.max(nowMs, t?.seenMs ?? nowMs) });
    },
    isTop(model, priority, nowMs) {
      const t = current(model, nowMs);
      return t === undefined || priority >= t.priority;
    },
  };
}
