/**
 * Raise the HTTP/2 limit on RST_STREAM frames a client may send per connection, on a grpc-js server.
 *
 * Envoy ends every ext_proc stream with END_STREAM followed at once by RST_STREAM(NO_ERROR) (unless the runtime
 * flag `envoy.reloadable_features.ext_proc_graceful_grpc_close` is on). Node's HTTP/2 server, through nghttp2,
 * limits incoming resets per connection to a token bucket of 1000 with 33 per second refill (the CVE-2023-44487
 * "rapid reset" guard) and answers GOAWAY beyond it, so an Envoy routing a few dozen requests per second through
 * kvroute would lose its connection every minute or so. Node (>= 24 here; Node 20 ignores them) takes
 * `streamResetBurst` and `streamResetRate` server options, but grpc-js has no channel option that reaches them.
 *
 * grpc-js 1.14 builds its HTTP/2 server options once in the `Server` constructor, in the private field
 * `commonServerOptions`, and passes that object to `http2.createServer` on every `bindAsync`; the servers it creates
 * are the keys of the private map `http2Servers` (read here only to count HTTP/2 session errors, GOAWAYs at the
 * limit among them). This file is the one place kvroute reaches into grpc-js; it throws when either field is gone,
 * so a grpc-js upgrade that moves them fails at start (and in test/grpc-stream-reset-limit.test.ts) instead of
 * silently bringing the GOAWAYs back.
 *
 * @module
 */
import type { EventEmitter } from "node:events";
import type { ServerOptions as Http2ServerOptions } from "node:http2";
import type * as grpc from "@grpc/grpc-js";

/** The incoming RST_STREAM rate limit per HTTP/2 connection (nghttp2 token bucket). */
export interface StreamResetLimit {
  /** Resets accepted at once before the bucket is empty. */
  readonly burst: number;
  /** Resets per second the bucket refills with. */
  readonly ratePerSecond: number;
}

/** The private grpc-js 1.14 state this file reads and writes. */
interface GrpcJsServerInternals {
  commonServerOptions?: Http2ServerOptions;
  /** The HTTP/2 servers `bindAsync` created, as keys. */
  http2Servers?: Map<EventEmitter, unknown>;
}

/** The Node error codes an HTTP/2 session error is counted under; anything else is `other` (bounded labels). */
export const HTTP2_SESSION_ERROR_CODES = [
  "ERR_HTTP2_ERROR",
  "ERR_HTTP2_SESSION_ERROR",
  "ERR_HTTP2_PING_CANCEL",
  "ERR_HTTP2_GOAWAY_SESSION",
  "ECONNRESET",
] as const;
/** A counted session error code. */
export type Http2SessionErrorCode = (typeof HTTP2_SESSION_ERROR_CODES)[number] | "other";

function knownCode(code: string | undefined): Http2SessionErrorCode {
  return HTTP2_SESSION_ERROR_CODES.find((c) => c === code) ?? "other";
}

/**
 * Set `limit` on `server`'s HTTP/2 options. Call before `bindAsync`: servers already bound keep their options.
 *
 * @throws Error if this grpc-js version no longer keeps its HTTP/2 options in `commonServerOptions`.
 */
export function applyStreamResetLimit(server: grpc.Server, limit: StreamResetLimit): void {
  const options = (server as unknown as GrpcJsServerInternals).commonServerOptions;
  if (typeof options !== "object" || options === null) {
    throw new Error(
      "@grpc/grpc-js no longer keeps its HTTP/2 server options in `commonServerOptions`: " +
        "the RST_STREAM limit cannot be raised (see src/grpc-stream-reset-limit.ts)",
    );
  }
  options.streamResetBurst = limit.burst;
  options.streamResetRate = limit.ratePerSecond;
}

/**
 * Call `onError` for every HTTP/2 connection of `server` that ends on an HTTP/2 error, among them a client going over
 * the reset limit (nghttp2 sends GOAWAY and Node reports `ERR_HTTP2_ERROR`). Listens to the HTTP/2 servers'
 * `sessionError` event, which Node emits for every session error whether or not anyone listens, so grpc-js's own
 * handling is unchanged. Call after `bindAsync` resolved: it covers the servers bound so far.
 *
 * @throws Error if this grpc-js version no longer keeps its HTTP/2 servers in `http2Servers`.
 */
export function observeHttp2SessionErrors(
  server: grpc.Server,
  onError: (code: Http2SessionErrorCode) => void,
): void {
  const servers = (server as unknown as GrpcJsServerInternals).http2Servers;
  if (!(servers instanceof Map)) {
    throw new Error(
      "@grpc/grpc-js no longer keeps its HTTP/2 servers in `http2Servers`: " +
        "HTTP/2 connection errors cannot be counted (see src/grpc-stream-reset-limit.ts)",
    );
  }
  for (const http2Server of servers.keys()) {
    http2Server.on("sessionError", (err: NodeJS.ErrnoException) => onError(knownCode(err.code)));
  }
}
