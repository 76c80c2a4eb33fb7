/**
 * Conformance test mode's narrowing: the candidates a `test-epp-endpoint-selection` header leaves. An entry is a
 * pod IP (every endpoint at that IP) or an `ip:port` endpoint, as the reference lightweight picker reads it.
 *
 * @module
 */
import type { Pod } from "../cluster";

/** Whether `pod` is named by one of `entries` (its IP, or its exact `ip:port` address). */
export function selects(entries: ReadonlySet<string>, pod: Pod): boolean {
  return entries.has(pod.address) || entries.has(pod.ip);
}

/**
 * The pods among `pods` (one model's, ready or not) that `entries` names; when it names none of them, `pods`
 * itself and `matched: false` (the reference picker's documented behaviour: an unmatched list is ignored). Never
 * widens past `pods`, so readiness, the subset hint and health still apply afterwards.
 */
export function narrowToSelection(
  pods: readonly Pod[],
  entries: ReadonlySet<string> | undefined,
): { readonly pods: readonly Pod[]; readonly matched: boolean | undefined } {
  if (entries === undefined) return { pods, matched: undefined };
  const named = pods.filter((p) => selects(entries, p));
  return named.length === 0 ? { pods, matched: false } : { pods: named, matched: true };
}
