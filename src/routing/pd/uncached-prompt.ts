/**
 * The decode pods that hold enough of a P/D request's prompt in their prefix cache that what they would still
 * compute is below `--pd-min-prefill-tokens`: such a pod prefills the rest itself more cheaply than a prefill hop
 * and a KV transfer of the whole prompt.
 *
 * @module
 */
import type { Pod } from "../../cluster";
import type { PrefixDeps, RoutingContext } from "../framework";
import type { PreparedPrompt } from "../../prefix";
import { matchPrefix } from "../strategies/prefix-cache/match";

/**
 * The pods of `decodePods` whose uncached prompt tokens — `promptTokens` minus the leading blocks they hold times
 * the block size of the index that speaks for the pod (its engine's for a pod publishing KV events, else the
 * approximate index's) — are below `threshold`. Empty without tokens, an index or any hit.
 */
export function podsHoldingPrompt(
  promptTokens: number,
  threshold: number,
  prompt: PreparedPrompt,
  decodePods: readonly Pod[],
  prefix: PrefixDeps,
): Pod[] {
  if (decodePods.length === 0) return [];
  // matchPrefix reads only the prompt from its context.
  const ctx: Pick<RoutingContext, "prompt"> = { prompt };
  const m = matchPrefix(ctx as RoutingContext, decodePods, prefix);
  if (m.t !== "match" || !m.any) return [];
  return decodePods.filter((pod, i) => {
    const blockSize = prefix.publishesEvents(pod.key)
      ? (prefix.eventBlockSize(pod.key) ?? prefix.approximateBlockSize)
      : prefix.approximateBlockSize;
    return promptTokens - (m.hitBlocks[i] as number) * blockSize < threshold;
  });
}
