/**
 * The pre-route hook: a check the ext_proc session runs on every request before it asks for a pick, and the
 * effects an admitted request carries to its response. The session owns when it runs (started at request headers,
 * so its I/O overlaps the body upload; awaited once the body is complete); an optional area implements what it
 * decides (per-user RPM/TPM limits in `src/usage`), so the state machine knows nothing of users, limits or Redis.
 *
 * It is part of the routing contract rather than of ext_proc so that an implementer needs only this contract, never
 * the gRPC layer.
 *
 * @module
 */
import type { RouteError } from "../errors";
import type { InferenceRequest } from "../request";

/** What an admitted request carries on. */
export interface Admitted {
  /**
   * Refuse the parsed request before it is routed (a rule that needs the body, e.g. a TPM-limited user's chat
   * stream that does not ask for usage). Undefined result: go on.
   */
  refuse?(request: InferenceRequest): RouteError | undefined;
  /**
   * The request ended, once `refuse` was asked about it (whatever it answered): `totalTokens` is the usage its
   * response reported, undefined when none is known (it failed, was refused or went away first). Called exactly
   * once for such a request, never for one that ended before `refuse` was asked. A tenant's token reservation made
   * by `refuse` is settled (or given back whole) here, and an unreserved user's usage charged.
   */
  finished?(totalTokens: number | undefined): void;
  /** Whose usage the completed request is charged to (copied into the finished request's record), if anyone's. */
  readonly chargeTo: string | undefined;
  /** Headers added to the response sent to the client. */
  readonly responseHeaders: readonly (readonly [string, string])[];
}

/** The hook's decision for one request. */
export type PreRouteVerdict =
  /** Answer the request with this error; it is never routed. */
  | { readonly t: "rejected"; readonly error: RouteError }
  /** Route it, with these effects. */
  | { readonly t: "admitted"; readonly admitted: Admitted };

/** Admitted with no effects: what the session assumes when a hook breaks its promise and rejects. */
export const ADMITTED_UNCHANGED: PreRouteVerdict = {
  t: "admitted",
  admitted: { chargeTo: undefined, responseHeaders: [] },
};

/** A check run before routing. */
export interface PreRouteHook {
  /**
   * Start the check for a request whose headers (lower-case names) are these. Undefined: nothing to check for this
   * request. The promise must resolve, never reject (a failure inside the hook is the hook's to decide: fail open
   * or refuse). `signal` aborts when the request's stream ends (or a drain refuses it) first: the session then
   * ignores the verdict and routes nothing, so the hook may skip what is left of its work (I/O already in flight
   * cannot always be cancelled: ioredis has no per-command abort).
   */
  beforeRoute(
    headers: ReadonlyMap<string, string>,
    signal?: AbortSignal,
  ): Promise<PreRouteVerdict> | undefined;
}
