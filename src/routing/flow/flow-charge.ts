/**
 * A dispatched request's fairness charge, corrected when it ends: the queue charged its tenant the estimate (prompt
 * plus predicted output) at dispatch; once the response reports its usage, the charge becomes the tokens really
 * used, so a tenant whose `max_tokens` overstates its output is not held back for tokens it never took, and one that
 * understates it pays for what it used.
 *
 * @module
 */
import type { Outcome, Pick } from "../framework";

/** What the flow controller hands a dispatched request's decision. */
export interface FlowCharge {
  /** Correct the charge to `actualTokens` (at most once). */
  settle(actualTokens: number): void;
}

/** The tokens a finished request really used; undefined when the response reported no usage (the estimate stands). */
function usedTokens(outcome: Outcome, promptTokens: number): number | undefined {
  if (outcome.completionTokens === undefined) return undefined;
  return (outcome.promptTokens ?? promptTokens) + outcome.completionTokens;
}

/** `pick` whose release also settles `charge` with the tokens the request used. */
function withSettle(pick: Pick, charge: FlowCharge, promptTokens: number): Pick {
  if (pick.t !== "routed" && pick.t !== "fallback") return pick;
  const release = pick.release;
  let settled = false;
  return {
    ...pick,
    release(outcome) {
      release(outcome);
      if (settled) return;
      settled = true;
      const used = usedTokens(outcome, promptTokens);
      if (used !== undefined) charge.settle(used);
    },
  };
}

/** As {@link withSettle}, for a decision that may still be waiting (the SLO strategies' headroom queue). */
export function settleOnRelease(
  picked: Pick | Promise<Pick>,
  charge: FlowCharge,
  promptTokens: number,
): Pick | Promise<Pick> {
  return picked instanceof Promise
    ? picked.then((p) => withSettle(p, charge, promptTokens))
    : withSettle(picked, charge, promptTokens);
}
