/**
 * The request path's view of per-user limits (AIBrix `pkg/plugins/gateway/gateway_ratelimit.go`):
 * one `begin(user)` per request that decides admit / reject / unchecked, and one fire-and-forget `charge` per
 * completed request. It turns {@link UserLimits} outcomes into `RouteError`s (the wire mapping stays in
 * `src/extproc/immediate-response.ts`) and reports every outcome to an observer, so this module knows nothing of
 * prom-client.
 *
 * Neither method ever rejects or throws: a Redis failure, a malformed record or even a bug inside {@link UserLimits}
 * becomes `unchecked` (fail-open, as documented in `user-limits.ts`) or a counted failed charge.
 *
 * @module
 */
import { Code, RouteError } from "../errors";
import type { Admitted, PreRouteHook, PreRouteVerdict } from "../routing";
import { limitError } from "./user-limits";
import type { LimitErrorDescriptor, UserLimits, UserLimitsFailure, UserRecord } from "./user-limits";

/**
 * How one admission check ended, as counted (`kvroute_user_limit_checks_total{outcome}`). `cancelled`: the stream
 * ended (or was drained) while the user's record was read; the request is neither counted nor routed.
 */
export type AdmissionOutcome =
  "allowed" | "rpm_exceeded" | "tpm_exceeded" | "unknown_user" | "unavailable" | "cancelled";

/** How one TPM charge ended (`kvroute_user_tpm_charges_total{outcome}`). */
export type ChargeOutcome = "ok" | "unavailable" | "bad_tokens";

/** The decision for one request of a named user. */
export type Admission =
  /**
   * `user` is the raw record (its `tpm` drives the include_usage rule); `rpmAfter` is echoed as `x-update-rpm`;
   * `tpmSeen` is the TPM counter as read (what a token reservation is checked against).
   */
  | { readonly t: "allowed"; readonly user: UserRecord; readonly rpmAfter: number; readonly tpmSeen: number }
  /** Answer the request with this error (429 `RateLimited` or 403 `UnknownUser`). */
  | { readonly t: "rejected"; readonly error: RouteError }
  /** Redis could not decide: let the request through unlimited (fail-open). */
  | { readonly t: "unchecked"; readonly reason: UserLimitsFailure | "internal" };

/** Metric callbacks; both optional. */
export interface AdmissionObserver {
  onCheck?(outcome: AdmissionOutcome): void;
  onCharge?(outcome: ChargeOutcome): void;
}

/** What the session (as its pre-route hook) and the completion hook use. */
export interface UserAdmission extends PreRouteHook {
  /** Look the user up and count the request (RPM). Resolves, never rejects. */
  begin(userName: string, signal?: AbortSignal): Promise<Admission>;
  /**
   * Add `totalTokens` to the user's TPM window, fire-and-forget: the caller never waits for Redis, so a slow or
   * absent Redis cannot delay or fail a response. `userName` is the counter name (the record's `name`).
   */
  charge(userName: string, totalTokens: number): void;
  /** Resolves once every charge started so far has settled (shutdown before closing Redis; tests). */
  settled(): Promise<void>;
}

/** Options of {@link createUserAdmission}. */
export interface UserAdmissionOptions {
  readonly limits: UserLimits;
  readonly observer?: AdmissionObserver;
}

/**
 * The pre-route verdict for `admission` without token reservations (AIBrix's behaviour): a rejection is the answer;
 * an allowed user is charged its usage on completion by the record's name and gets `x-update-rpm`; unchecked
 * (fail-open) charges the header's name, so a request served across an outage's end is still counted.
 */
export function verdictOf(
  admission: Admission,
  userName: string,
  charge: (userName: string, totalTokens: number) => void,
): PreRouteVerdict {
  switch (admission.t) {
    case "rejected":
      return { t: "rejected", error: admission.error };
    case "allowed":
      return {
        t: "admitted",
        admitted: {
          refuse: (request) => includeUsageError(admission, request),
          finished: (total) => chargeUsage(charge, admission.user.name, total),
          chargeTo: admission.user.name,
          responseHeaders: [["x-update-rpm", String(admission.rpmAfter)]],
        },
      };
    case "unchecked":
      return { t: "admitted", admitted: uncheckedAdmitted(userName, charge) };
  }
}

/** A user admitted unchecked (Redis could not decide): its usage is still charged, best-effort, on completion. */
export function uncheckedAdmitted(
  userName: string,
  charge: (userName: string, totalTokens: number) => void,
): Admitted {
  return {
    finished: (total) => chargeUsage(charge, userName, total),
    chargeTo: userName,
    responseHeaders: [],
  };
}

/** AIBrix's completion rule: harvested usage goes to the user's TPM window; nothing when there is none. */
function chargeUsage(
  charge: (userName: string, totalTokens: number) => void,
  userName: string,
  total: number | undefined,
): void {
  if (total !== undefined && total > 0) charge(userName, total);
}

/**
 * AIBrix's rule for a TPM-limited user: a chat stream must ask for usage (`stream_options.include_usage`),
 * or its tokens could never be charged. Reads the raw record's `tpm`, not the defaulted one, as AIBrix does.
 */
export function includeUsageError(
  admitted: Admission | undefined,
  request: { readonly endpoint: string; readonly stream: boolean; readonly includeUsage: boolean },
): RouteError | undefined {
  if (admitted?.t !== "allowed" || admitted.user.tpm <= 0) return undefined;
  if (request.endpoint !== "chat-completions" || !request.stream || request.includeUsage) return undefined;
  return new RouteError(Code.BadRequest, "include usage for stream options not set", {
    param: "stream_options",
    errorHeader: ["x-error-no-stream-options-include-usage", "include usage for stream options not set"],
  });
}

/** The `RouteError` for a limit rejection: `RateLimited` (429) or `UnknownUser` (403), AIBrix's header kept. */
function toRouteError(d: LimitErrorDescriptor): RouteError {
  return new RouteError(d.status === 429 ? Code.RateLimited : Code.UnknownUser, d.message, {
    errorHeader: d.header,
    openaiCode: d.code,
  });
}

/** Create the admission service over `limits`. */
export function createUserAdmission(opts: UserAdmissionOptions): UserAdmission {
  const { limits, observer } = opts;
  const pending = new Set<Promise<void>>();

  const unchecked = (reason: UserLimitsFailure | "internal"): Admission => {
    observer?.onCheck?.("unavailable");
    return { t: "unchecked", reason };
  };
  const rejected = (outcome: AdmissionOutcome, d: LimitErrorDescriptor | undefined): Admission => {
    observer?.onCheck?.(outcome);
    // `limitError` maps every rejecting outcome; `undefined` here would be a bug in it, so fail open.
    return d === undefined
      ? { t: "unchecked", reason: "internal" }
      : { t: "rejected", error: toRouteError(d) };
  };

  async function check(userName: string, signal: AbortSignal | undefined): Promise<Admission> {
    const found = await limits.lookup(userName);
    // The stream went away while Redis answered (ioredis cannot abort a command in flight): its request is never
    // routed, so it must not be counted against the user's RPM either; nothing reads this answer.
    if (signal?.aborted === true) {
      observer?.onCheck?.("cancelled");
      return { t: "unchecked", reason: "internal" };
    }
    switch (found.t) {
      case "unavailable":
        return unchecked(found.reason);
      case "unknown":
        return rejected("unknown_user", limitError(found, userName));
      case "ok":
        break;
    }
    const { user } = found;
    const counted = await limits.checkAndCountRequest(user);
    switch (counted.t) {
      case "unavailable":
        return unchecked(counted.reason);
      // As AIBrix, the message names the record's `name`.
      case "rpm-exceeded":
        return rejected("rpm_exceeded", limitError(counted, user.name));
      case "tpm-exceeded":
        return rejected("tpm_exceeded", limitError(counted, user.name));
      case "allowed":
        observer?.onCheck?.("allowed");
        return { t: "allowed", user, rpmAfter: counted.rpmAfter, tpmSeen: counted.tpm };
    }
  }

  const begin = (userName: string, signal?: AbortSignal): Promise<Admission> =>
    // `UserLimits` promises never to reject; the catch keeps that a guarantee of this interface even if it did.
    check(userName, signal).catch(() => unchecked("internal"));
  const charge = (userName: string, totalTokens: number): void => {
    // chargeTokens reads only the record's name: the limits are not needed to add to a counter.
    const p = limits
      .chargeTokens({ name: userName, rpm: 0, tpm: 0 }, totalTokens)
      .then(
        (r) => (r.ok ? "ok" : r.reason === "bad-tokens" ? "bad_tokens" : "unavailable"),
        (): ChargeOutcome => "unavailable",
      )
      .then((outcome: ChargeOutcome) => observer?.onCharge?.(outcome))
      // Nothing awaits a charge: a throwing observer must not become an unhandled rejection.
      .catch(() => undefined);
    const tracked = p.finally(() => pending.delete(tracked));
    pending.add(tracked);
  };
  return {
    begin,
    beforeRoute(headers, signal) {
      // The `user` header names the record; without one there is nothing to limit (AIBrix's behaviour).
      const userName = headers.get("user")?.trim();
      if (!userName) return undefined;
      return begin(userName, signal).then((admission) => verdictOf(admission, userName, charge));
    },
    charge,
    async settled() {
      while (pending.size > 0) await Promise.all([...pending]);
    },
  };
}
