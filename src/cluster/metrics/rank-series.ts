/**
 * One data-parallel rank's share of a `/metrics` body. vLLM with data parallelism exposes one series per engine
 * core on one page, labelled `engine="<rank>"`; an endpoint that is one rank of its pod (see
 * `cluster/data-parallel.ts`) must read its own series, not the pod's sum (the catalogue sums series of one name),
 * or every rank would look as loaded as the whole pod.
 *
 * Per sample name: when some series carry `engine="<rank>"`, only those are kept; otherwise every series is kept —
 * a name without an `engine` label is pod-wide (it applies to every rank, as before DP), and a page whose engine
 * labels name no such rank is the rank's own server numbering its single engine from 0, all of it this rank's.
 *
 * @module
 */
import type { Exposition, Sample } from "./exposition";
import { labelValue } from "./exposition";

/** The label vLLM puts the engine core's index (its data-parallel rank) in. */
export const ENGINE_INDEX_LABEL = "engine";

/** `exposition` narrowed to rank `rank`'s series (see the module comment); the same object when nothing changes. */
export function seriesOfRank(exposition: Exposition, rank: number): Exposition {
  const wanted = String(rank);
  let samples: Map<string, readonly Sample[]> | undefined;
  for (const [name, list] of exposition.samples) {
    const own = list.filter((s) => labelValue(s, ENGINE_INDEX_LABEL) === wanted);
    if (own.length === 0 || own.length === list.length) continue;
    samples ??= new Map(exposition.samples);
    samples.set(name, own);
  }
  return samples ? { ...exposition, samples } : exposition;
}
