/**
 * The gateway API key check (`AIBRIX_AUTH_BEARER_TOKEN`): `Authorization: Bearer <token>`, scheme
 * case-insensitive, token trimmed, compared in constant time over SHA-256 digests so neither the content nor the
 * length of the key leaks through timing.
 *
 * The header is client input read before the key is checked, so its parsing is a single linear pass (no
 * backtracking regex: `/^\s*bearer\s+(.*?)\s*$/i` is quadratic in the header's length), and a header longer than
 * {@link maxAuthorizationChars} is refused before any work.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";
import { bearerToken } from "../bearer-token";

export { bearerToken };

/** Returns true when the `authorization` header carries the configured token. */
export type ApiKeyCheck = (authorization: string | undefined) => boolean;

/** Longest `Authorization` header looked at: 8 KiB, or the token plus 1 KiB of scheme and whitespace if longer. */
export function maxAuthorizationChars(token: string): number {
  return Math.max(8 * 1024, token.length + 1024);
}

/** Build the check for `token` (non-empty); `onTooLong` is told of each header refused for its length. */
export function createApiKeyCheck(token: string, onTooLong?: () => void): ApiKeyCheck {
  const want = createHash("sha256").update(token, "utf8").digest();
  const maxChars = maxAuthorizationChars(token);
  return (authorization) => {
    if (authorization !== undefined && authorization.length > maxChars) {
      onTooLong?.();
      return false;
    }
    const got = authorization === undefined ? undefined : bearerToken(authorization);
    const digest = createHash("sha256")
      .update(got ?? "", "utf8")
      .digest();
    // Always compare, even when the header is missing, so both paths cost the same.
    return timingSafeEqual(want, digest) && got !== undefined;
  };
}
