/**
 * The tenant a request belongs to: flow control's fairness unit and the key of tenant token budgets. In order:
 * the configured tenant header (when one is set and the request carries it), AIBrix's `user` header, the client's
 * API key (`Authorization: Bearer`), or the anonymous tenant.
 *
 * Every source is client input that becomes a map key, so the key is bounded: a value longer than
 * {@link MAX_TENANT_CHARS} is replaced by a digest of it (distinct values stay distinct; nothing grows). An API key is
 * never kept or shown: only a short digest of it is, so the key cannot leak through logs, metrics or the status page.
 * Prefixes keep the sources apart (a `user` named like a key digest is still another tenant).
 *
 * @module
 */
import { createHash } from "node:crypto";
import { bearerToken } from "../../bearer-token";
import type { HeaderView } from "../framework";

/** AIBrix's user header, also read by per-user limits and `vtc-basic`. */
export const TENANT_USER_HEADER = "user";
/** Longest header value kept as it is, in UTF-16 units. */
export const MAX_TENANT_CHARS = 256;
/** Longest `Authorization` value looked at; a longer one counts as no key (anonymous). */
export const MAX_AUTHORIZATION_CHARS = 8 * 1024;
/** The tenant of a request that names none. */
export const ANONYMOUS_TENANT = "anonymous";

/** Hex digits of SHA-256 kept in a digested key: 64 bits, plenty to keep tenants apart. */
const DIGEST_HEX = 16;

function digest(text: string): string {
  return createHash("sha256").update(text, "utf8").digest("hex").slice(0, DIGEST_HEX);
}

/** A header value as a bounded key part: as it is when short, else a digest of it. */
function bounded(value: string): string {
  return value.length <= MAX_TENANT_CHARS ? value : `#${digest(value)}`;
}

/**
 * The tenant key of a request. `tenantHeader` is the configured header name (lower-case), if any.
 *
 * Keys: `header:<value>`, `user:<value>`, `key:<digest>`, or {@link ANONYMOUS_TENANT}.
 */
export function tenantOf(headers: HeaderView, tenantHeader?: string): string {
  if (tenantHeader !== undefined && tenantHeader !== "") {
    const value = headers.get(tenantHeader)?.trim();
    if (value) return `header:${bounded(value)}`;
  }
  const user = headers.get(TENANT_USER_HEADER)?.trim();
  if (user) return `user:${bounded(user)}`;
  const authorization = headers.get("authorization");
  if (authorization !== undefined && authorization.length <= MAX_AUTHORIZATION_CHARS) {
    const token = bearerToken(authorization);
    if (token) return `key:${digest(token)}`;
  }
  return ANONYMOUS_TENANT;
}
