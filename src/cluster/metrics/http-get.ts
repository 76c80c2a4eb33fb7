/**
 * The shapes of one bounded metrics `GET` (target, limits, outcome) and the mapping of Node socket errors onto the
 * scraper's closed {@link ScrapeFailureReason} set. The client itself is `metrics-client.ts`.
 *
 * History: `http.request` over a keep-alive agent was chosen over the global `fetch` (undici), ~95 against
 * ~300 µs of client CPU per scrape (Node 20); the hand-written client of `metrics-client.ts` replaced both.
 *
 * @module
 */
import type { ScrapeFailureReason } from "./engine-metrics-store";

/** Where to send the request. */
export interface GetTarget {
  /** IP or host name; IPv6 with or without brackets. */
  readonly host: string;
  readonly port: number;
  /** Request path, e.g. `/metrics`. */
  readonly path: string;
}

/** Limits of one request. */
export interface GetLimits {
  /** Abort the whole exchange (connect, headers, body) after this long, ms. */
  readonly timeoutMs: number;
  /** Abort when the body (as announced, or as received) exceeds this many bytes. */
  readonly maxBodyBytes: number;
}

/** The outcome of one `GET`; a tagged union, never a rejection. */
export type GetOutcome =
  | { readonly t: "body"; readonly text: string; readonly bytes: number }
  | { readonly t: "failed"; readonly reason: ScrapeFailureReason; readonly message: string }
  /** Aborted through `signal` by the caller (pod removed, scraper closing): nothing to record. */
  | { readonly t: "cancelled" };

/** `host` without IPv6 brackets, as `http.request` and `Agent.getName` want it. */
export function bareHost(host: string): string {
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/** Map a Node socket or HTTP parser error onto the closed reason set, keeping its code as the message. */
export function failure(err: unknown): GetOutcome {
  const code = typeof err === "object" && err !== null ? (err as { code?: unknown }).code : undefined;
  const message = typeof code === "string" ? code : err instanceof Error ? err.message : String(err);
  if (typeof code === "string" && code.startsWith("HPE_"))
    return { t: "failed", reason: "http-error", message };
  if (code === "ETIMEDOUT") return { t: "failed", reason: "timeout", message };
  // ECONNREFUSED, ECONNRESET, EPIPE, EHOSTUNREACH, ENETUNREACH, ENOTFOUND, EAI_AGAIN and anything unexpected:
  // the transport failed before a usable answer.
  return { t: "failed", reason: "connect-error", message };
}
