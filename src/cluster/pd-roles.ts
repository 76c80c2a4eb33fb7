/**
 * Prefill/decode roles of pods, read from their labels whatever discovered them (Kubernetes pods, InferencePool
 * members, the standalone endpoints file's `rolesets`). AIBrix labels a disaggregated pod with `role-name`
 * (`prefill` / `decode`; anything else is a combined pod) and groups a prefill and decode pool that exchange KV
 * caches under one `roleset-name`. llm-d labels it `llm-d.ai/role` (`prefill` / `decode` / `both`) and has no
 * roleset: such pods pair with any pod of the other role of their model, as one implicit roleset.
 *
 * @module
 */
import type { Pod } from "./pod";

/** AIBrix's role label: `prefill`, `decode`, or anything else for a combined pod. */
export const ROLE_LABEL = "role-name";
/** AIBrix's roleset label: prefill and decode pods that exchange KV caches share it. */
export const ROLESET_LABEL = "roleset-name";
/** llm-d's role label (`prefill`, `decode`, `both`); no roleset. */
export const LLMD_ROLE_LABEL = "llm-d.ai/role";
/** The roleset of pods labelled by role alone (llm-d's label, or AIBrix's role without a roleset). */
export const IMPLICIT_ROLESET = "default";

/** A disaggregated pod's role. */
export type PdRole = "prefill" | "decode";

/** A pod's place in a P/D fleet; undefined for a pod that serves whole requests (combined, or unlabelled). */
export interface PdPlacement {
  readonly role: PdRole;
  readonly roleset: string;
}

/** The role and roleset the pod's labels give it; undefined when it is not a prefill or decode pod. */
export function pdPlacement(pod: Pod): PdPlacement | undefined {
  const role = pod.labels[ROLE_LABEL] ?? pod.labels[LLMD_ROLE_LABEL];
  if (role !== "prefill" && role !== "decode") return undefined;
  return { role, roleset: pod.labels[ROLESET_LABEL] ?? IMPLICIT_ROLESET };
}

/** One roleset's pods, by role. */
export interface Roleset {
  readonly name: string;
  readonly prefill: Pod[];
  readonly decode: Pod[];
}

/**
 * The rolesets among `pods` that have at least one prefill and one decode pod (AIBrix routes only complete
 * rolesets: half a pair cannot serve a request), by name. `pods` are taken as given (filter them for readiness
 * first when that matters).
 */
export function completeRolesets(pods: readonly Pod[]): Map<string, Roleset> {
  const all = new Map<string, Roleset>();
  for (const pod of pods) {
    const at = pdPlacement(pod);
    if (at === undefined) continue;
    let set = all.get(at.roleset);
    if (set === undefined) all.set(at.roleset, (set = { name: at.roleset, prefill: [], decode: [] }));
    set[at.role].push(pod);
  }
  for (const [name, set] of all) if (set.prefill.length === 0 || set.decode.length === 0) all.delete(name);
  return all;
}

/** `/debug/state` facts of a pod: its role and roleset, or nothing for a pod without one. */
export function pdFacts(pod: Pod): Record<string, unknown> {
  const at = pdPlacement(pod);
  return at === undefined ? {} : { pdRole: at.role, pdRoleset: at.roleset };
}
