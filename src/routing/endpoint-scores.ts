/**
 * A decision's per-endpoint combined scores, for debugging: the pick and the best-scored other candidates, which
 * kvroute can add to the `envoy.lb` metadata (`--emit-endpoint-scores`) to show why it chose as it did.
 *
 * @module
 */
import type { Pod } from "../cluster";

/** How many endpoints' scores a decision carries at most: bounded, so the metadata stays small. */
export const SCORED_ENDPOINTS = 5;

/** One candidate's combined score (higher is better), as the scheduler summed it. */
export interface EndpointScore {
  readonly pod: Pod;
  readonly score: number;
}

/**
 * The pick first, then up to `count - 1` other candidates by descending score (equal ones in candidate order).
 * The pick always leads: among many tied candidates a plain top-`count` could leave it out. Non-finite totals are
 * skipped (the scheduler already counts them as bad scores). Empty when the pick's own is not finite, when every
 * strategy abstained (`totals` undefined) or when `count` ≤ 0.
 */
export function endpointScores(
  candidates: readonly Pod[],
  totals: Float64Array | undefined,
  picked: Pod,
  count: number,
): EndpointScore[] {
  if (totals === undefined || count <= 0) return [];
  const at = candidates.indexOf(picked);
  const pickedScore = at >= 0 ? (totals[at] as number) : NaN;
  if (!Number.isFinite(pickedScore)) return [];
  const others: EndpointScore[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const pod = candidates[i] as Pod;
    const score = totals[i] as number;
    if (i === at || pod.key === picked.key || !Number.isFinite(score)) continue;
    others.push({ pod, score });
  }
  // Stable sort: equal scores keep candidate order. Candidates are a model's pods, so sorting them all is cheap.
  others.sort((a, b) => b.score - a.score);
  return [{ pod: picked, score: pickedScore }, ...others.slice(0, count - 1)];
}
