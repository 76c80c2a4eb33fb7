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

/** Returns true when the `authorization` header carries the configured token. */
export type ApiKeyCheck = (authorization: string | undefined) => boolean;

/** Longest `Authorization` header looked at: 8 KiB, or the token plus 1 KiB of scheme and whitespace if longer. */
export function maxAuthorizationChars(token: string): number {
  return Math.max(8 * 1024, token.length + 1024);
}

/** Line terminators: the old pattern's `.` did not cross them, so a token containing one never matched. */
const LINE_TERMINATOR = /[\n\r\u2028\u2029]/;
/** `bearer` and at least one whitespace character, at the start only: linear, no backtracking. */
const BEARER_SCHEME = /^bearer\s/i;

/**
 * The token of a `Bearer` authorization value, or undefined when the value is not one: leading whitespace, the
 * scheme (any case), at least one whitespace, the token, trailing whitespace (whitespace as in JavaScript's `\s`,
 * which is what `trim` removes).
 */
export function bearerToken(authorization: string): string | undefined {
  const value = authorization.trimStart();
  if (!BEARER_SCHEME.test(value)) return undefined;
  const token = value.slice("bearer".length).trim();
  return LINE_TERMINATOR.test(token) ? undefined : token;
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
