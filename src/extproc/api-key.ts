/**
 * The gateway API key check (`AIBRIX_AUTH_BEARER_TOKEN`): `Authorization: Bearer <token>`, scheme
 * case-insensitive, token trimmed, compared in constant time over SHA-256 digests so neither the content nor the
 * length of the key leaks through timing.
 *
 * @module
 */
import { createHash, timingSafeEqual } from "node:crypto";

/** Returns true when the `authorization` header carries the configured token. */
export type ApiKeyCheck = (authorization: string | undefined) => boolean;

/** Build the check for `token` (non-empty). */
export function createApiKeyCheck(token: string): ApiKeyCheck {
  const want = createHash("sha256").update(token, "utf8").digest();
  return (authorization) => {
    const m = authorization === undefined ? null : /^\s*bearer\s+(.*?)\s*$/i.exec(authorization);
    const got = createHash("sha256")
      .update(m?.[1] ?? "", "utf8")
      .digest();
    // Always compare, even when the header is missing, so both paths cost the same.
    return timingSafeEqual(want, got) && m !== null;
  };
}
