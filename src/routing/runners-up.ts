/**
 * The runners-up of a decision: the next-best candidates after the pick, in order of preference, which kvroute
 * hands the gateway as fallback endpoints (Gateway API Inference Extension endpoint-picker protocol) so it can retry
 * elsewhere without asking for a new decision.
 *
 * @module
 */
import type { Pod, PodLoad } from "../cluster";
import { TIE_EPSILON } from "./scheduler";

/** How many fallback endpoints a decision carries at most: enough for Envoy's retries, bounded per decision. */
export const FALLBACK_ENDPOINTS = 3;

/** What to rank, as the scheduler left it. */
export interface RunnersUpInput {
  /** The candidates that survived every filter; `picked` is one of them. */
  readonly candidates: readonly Pod[];
  /** Combined score per candidate (index-aligned, higher is better); undefined when every strategy abstained. */
  readonly totals: Float64Array | undefined;
  readonly picked: Pod;
  readonly load: (podKey: string) => PodLoad;
  /** Pods that may be offered as a fallback (e.g. not ejected nor on probation); default: all. */
  readonly eligible?: (pod: Pod) => boolean;
  /** At most this many (≥ 0). */
  readonly count: number;
}

interface Ranked {
  readonly pod: Pod;
  readonly score: number;
  readonly load: PodLoad;
}

function beats(a: Ranked, b: Ranked): boolean {
  return better(a.score, a.load, b.score, b.load);
}

/** Strictly better: higher score, then fewer requests in flight, then less token work; else not better. */
function better(aScore: number, a: PodLoad, bScore: number, b: PodLoad): boolean {
  // Scores within the scheduler's tie margin are equal, as they are for the pick itself.
  if (Math.abs(aScore - bScore) >= TIE_EPSILON) return aScore > bScore;
  if (a.requests !== b.requests) return a.requests < b.requests;
  return a.tokens < b.tokens;
}

/**
 * Up to `count` candidates other than `picked`, best first: by descending combined score when strategies scored
 * (the order they would have picked in), by least load otherwise (the abstain fallback's own order). Equal ones
 * keep candidate order, so the answer is deterministic. O(candidates × count) with `count` a small constant.
 */
export function runnersUp(input: RunnersUpInput): Pod[] {
  const { candidates, totals, picked, load, eligible, count } = input;
  if (count <= 0) return [];
  const top: Ranked[] = [];
  for (let i = 0; i < candidates.length; i++) {
    const pod = candidates[i] as Pod;
    if (pod === picked || pod.key === picked.key || (eligible && !eligible(pod))) continue;
    const entry = { pod, score: totals ? (totals[i] as number) : 0, load: load(pod.key) };
    // Insertion into a list of at most `count`: the first slot this entry beats.
    let at = top.length;
    while (at > 0 && beats(entry, top[at - 1] as Ranked)) at--;
    if (at >= count) continue;
    top.splice(at, 0, entry);
    if (top.length > count) top.pop();
  }
  return top.map((e) => e.pod);
}
