/**
 * `session-affinity`: keep a conversation on one pod so its KV cache is reused, as AIBrix's
 * `simple_session_affinity.go` (without its optional Redis pinning).
 *
 * 1. `x-session-id` (issued by a previous response) base64-decodes to a candidate's `ip:port` → that pod.
 * 2. else `x-aibrix-session-key` (caller-owned, ≤ 256 bytes) → rendezvous hashing over the candidates' addresses,
 *    stateless and identical on every replica; removing a pod only moves the keys that were on it.
 * 3. else abstain: the scheduler falls back to a uniform random pod and counts the reason.
 *
 * @module
 */
import { z } from "zod";
import type { Strategy, StrategyFactory } from "../../framework";
import type { StrategyContract } from "../../strategy-contract";
import { rendezvousIndex } from "./fnv";

/** Registered type name. */
export const TYPE = "session-affinity";

/** Request/response header carrying `base64(ip:port)` of the pod that served the session. */
export const SESSION_ID_HEADER = "x-session-id";
/** Request header with a caller-owned opaque session key. */
export const SESSION_KEY_HEADER = "x-aibrix-session-key";
/** Longest session key used, in UTF-8 bytes (AIBrix `maxSessionKeyLen`). */
export const MAX_SESSION_KEY_BYTES = 256;
// Longest x-session-id considered: base64 of a 253-character host name plus `:65535` fits; anything longer is not
// an address kvroute issued, and bounding it keeps decoding cheap.
const MAX_SESSION_ID_CHARS = 512;
// Go's base64.StdEncoding: standard alphabet, padding required.
const STD_BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

/** Abstain reasons (metric labels). */
export const Reason = {
  /** Neither header was sent. */
  NoSessionKey: "no-session-key",
  /** `x-session-id` was sent but is not base64 of a candidate's address (pod gone, not ready, or garbage). */
  UnknownSessionId: "unknown-session-id",
  /** `x-aibrix-session-key` is longer than {@link MAX_SESSION_KEY_BYTES}; AIBrix ignores such keys too. */
  SessionKeyTooLong: "session-key-too-long",
} as const;

/** No params; unknown keys are rejected so a typo in configuration fails startup. */
export const paramsSchema = z.strictObject({});

/** Params of `session-affinity` (none). */
export type SessionAffinityParams = z.infer<typeof paramsSchema>;

/** The address `x-session-id` names, or undefined when it is absent or not strict base64. */
function decodeSessionId(value: string | undefined): string | undefined {
  if (!value || value.length > MAX_SESSION_ID_CHARS || !STD_BASE64.test(value)) return undefined;
  return Buffer.from(value, "base64").toString("utf8");
}

/** Creates the (stateless) `session-affinity` strategy. */
export const factory: StrategyFactory<SessionAffinityParams> = {
  type: TYPE,
  paramsSchema,
  contract: { ranksBy: "session-affinity", abstainsWhen: Object.values(Reason) } satisfies StrategyContract,
  create() {
    return {
      type: TYPE,
      reads: ["headers"],
      /** The sticky or rendezvous pod scores 1 and every other pod 0; abstains with a {@link Reason} otherwise. */
      score(ctx, pods) {
        const scores = new Float64Array(pods.length);
        const sessionId = ctx.headers.get(SESSION_ID_HEADER);
        const target = decodeSessionId(sessionId);
        if (target !== undefined) {
          const i = pods.findIndex((p) => p.address === target);
          if (i >= 0) {
            scores[i] = 1;
            return { t: "scores", scores };
          }
        }
        const key = ctx.headers.get(SESSION_KEY_HEADER);
        if (key) {
          const bytes = Buffer.from(key, "utf8");
          if (bytes.length > MAX_SESSION_KEY_BYTES) return { t: "abstain", reason: Reason.SessionKeyTooLong };
          const i = rendezvousIndex(bytes, pods);
          if (i >= 0) scores[i] = 1;
          return { t: "scores", scores };
        }
        return { t: "abstain", reason: sessionId ? Reason.UnknownSessionId : Reason.NoSessionKey };
      },
      /** Always `x-session-id: base64(pod.address)`, so the client can stick to the pod it got, however chosen. */
      responseHeaders(_ctx, pod) {
        return [[SESSION_ID_HEADER, Buffer.from(pod.address, "utf8").toString("base64")]];
      },
    } satisfies Strategy;
  },
};
