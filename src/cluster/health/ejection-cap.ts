/**
 * The bound on how much of a model's capacity passive health may take away: at most a configured share of the
 * model's ready pods are out (ejected or probing) at once, and never the last one. Like Envoy's
 * `max_ejection_percent`, a failing pod beyond the bound stays routable; unlike Envoy, one pod may always be
 * ejected only when the model has at least two ready pods, because ejecting a model's only pod leaves nowhere to
 * send its requests (a dead single pod gets Envoy's own 503 either way).
 *
 * @module
 */
import { ANY_MODEL } from "../cluster-state";
import type { ClusterSnapshot } from "../cluster-state";
import type { Pod } from "../pod";

/**
 * How many of a group of `ready` pods may be out at once at `percent` (0..100): `floor(ready × percent / 100)`,
 * at least 1 when `percent` > 0, and at most `ready - 1`. 0 when `percent` is 0 or the group has one pod or none.
 */
export function maxEjectable(ready: number, percent: number): number {
  if (ready <= 1 || !(percent > 0)) return 0;
  return Math.min(ready - 1, Math.max(1, Math.floor((ready * percent) / 100)));
}

/**
 * Whether ejecting `pod` keeps every model it serves within the bound. `isOut(key)` says whether a pod is already
 * out; `pod` itself is not counted. Costs O(pods of the pod's models): called only when a trigger fires.
 */
export function ejectionAllowed(
  snapshot: ClusterSnapshot,
  pod: Pod,
  percent: number,
  isOut: (podKey: string) => boolean,
): boolean {
  for (const model of pod.models) {
    const group = model === ANY_MODEL ? snapshot.anyModel : snapshot.models.get(model);
    if (!group) continue;
    let ready = 0;
    let out = 0;
    for (const p of group) {
      if (!p.ready) continue;
      ready += 1;
      if (p.key !== pod.key && isOut(p.key)) out += 1;
    }
    if (out + 1 > maxEjectable(ready, percent)) return false;
  }
  return true;
}
