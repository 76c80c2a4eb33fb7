/**
 * Keeps a metric label's cardinality bounded when its values come from outside (model names, strategy strings,
 * pod names): the first `max` distinct values pass through, later new values become `other`. A label whose values
 * can be checked against what kvroute knows (models of the cluster) admits only those: the rest become `unknown`,
 * so a client cannot take the bound's slots with made-up names.
 *
 * @module
 */

/** Maps a raw label value onto a bounded set. */
export interface LabelLimiter {
  /** The value itself if already admitted or there is room; otherwise `"other"`. */
  admit(value: string): string;
  /** Distinct values admitted so far. */
  readonly size: number;
}

/** Create a limiter admitting at most `max` distinct values (≥ 1). */
export function createLabelLimiter(max: number): LabelLimiter {
  const seen = new Set<string>();
  return {
    admit(value) {
      if (seen.has(value)) return value;
      if (seen.size >= max) return "other";
      seen.add(value);
      return value;
    },
    get size() {
      return seen.size;
    },
  };
}

/** Label value for a value kvroute does not know (a model no pod names). */
export const UNKNOWN_LABEL = "unknown";

/** Admit through `limiter` only values `isKnown` accepts; any other value becomes `unknown`. */
export function createKnownLabel(limiter: LabelLimiter, isKnown: (value: string) => boolean): LabelLimiter {
  return {
    admit: (value) => (isKnown(value) ? limiter.admit(value) : UNKNOWN_LABEL),
    get size() {
      return limiter.size;
    },
  };
}
