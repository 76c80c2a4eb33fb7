/**
 * Which prefix lookup a pick reports: the first one a strategy of the plan gives for the picked pod. Only metrics
 * read it (`kvroute_prefix_hit_blocks_total` against `kvroute_prefix_lookup_blocks_total`); routing never does.
 *
 * @module
 */
import type { Pod } from "../cluster";
import type { PrefixLookup, RoutingContext } from "./framework";
import type { StrategyPlan } from "./registry";

/**
 * The first prefix lookup a strategy of `plan` reports for `pod`. Every prefix-aware strategy is asked, so each
 * lets go of its memo of this decision; one that throws (a bug) is reported through `onError` and skipped.
 */
export function prefixLookupOf(
  plan: StrategyPlan,
  ctx: RoutingContext,
  pod: Pod,
  onError: (strategy: string, err: unknown) => void,
): PrefixLookup | undefined {
  let found: PrefixLookup | undefined;
  for (const { strategy } of plan.entries) {
    if (strategy.prefixLookup === undefined) continue;
    try {
      const lookup = strategy.prefixLookup(ctx, pod);
      found ??= lookup;
    } catch (err) {
      onError(strategy.type, err);
    }
  }
  return found;
}
