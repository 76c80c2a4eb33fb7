/**
 * Per-model RPS admission around a routing decision (AIBrix's profile `requestsPerSecond`): count the request
 * against its model's window before the pick, refuse it when the window is over the limit, and give the count
 * back when the request is not routed after all, as AIBrix's deferred `INCRBY -1` does.
 *
 * @module
 */
import { echoClientText } from "../client-echo";
import { Code, RouteError } from "../errors";
import type { Pick } from "./framework";

/** The limiter's answer for one request (`src/usage/model-rps.ts` implements it over Redis). */
export type RpsAdmission =
  | { readonly t: "allowed"; readonly rollback: () => void }
  | { readonly t: "exceeded" }
  | { readonly t: "unavailable" };

/** Counts requests per model and second. `admit` never rejects; `rollback` never throws. */
export interface ModelRateLimit {
  admit(model: string, limit: number): Promise<RpsAdmission>;
}

/** AIBrix's answer to a model over its profile's `requestsPerSecond` (429). */
export function rpsExceeded(model: string, limit: number): RouteError {
  return new RouteError(Code.RateLimited, `model: ${echoClientText(model)} has exceeded RPS: ${limit}`, {
    openaiCode: "rate_limit_exceeded",
    errorHeader: ["x-error-model-rps-exceeded", "true"],
  });
}

/**
 * Admit one request for `model` under `limit` requests per second, then run `decide`. An exceeded window throws
 * {@link rpsExceeded} before anything is picked; an unavailable limiter lets the request through uncounted (fail
 * open). When the admitted request yields `none` or `decide` fails (a bad strategy, a wait that timed out), its
 * count is given back.
 */
export async function admitThen(
  limiter: ModelRateLimit,
  model: string,
  limit: number,
  decide: () => Pick | Promise<Pick>,
): Promise<Pick> {
  const admission = await limiter.admit(model, limit);
  if (admission.t === "exceeded") throw rpsExceeded(model, limit);
  if (admission.t === "unavailable") return decide();
  try {
    const pick = await decide();
    if (pick.t === "none") admission.rollback();
    return pick;
  } catch (err) {
    admission.rollback();
    throw err;
  }
}

/** Response header naming the config profile a request was routed under (AIBrix `x-aibrix-config-profile`). */
export const CONFIG_PROFILE_RESPONSE_HEADER = "x-aibrix-config-profile";

/** `pick` with the config profile header added (a `none` pick has no response headers and is returned as is). */
export function withProfileHeader(pick: Pick, profile: string): Pick {
  if (pick.t === "none") return pick;
  return { ...pick, responseHeaders: [...pick.responseHeaders, [CONFIG_PROFILE_RESPONSE_HEADER, profile]] };
}
