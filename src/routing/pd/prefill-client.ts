/**
 * The prefill hop's HTTP client: one POST to the prefill pod, bounded in number (at the bound a request is not
 * queued: it falls back to prefilling on its decode pod), in time (the timeout) and in response size, and aborted
 * when the client's stream ends. Every failure is named by a closed set of reasons, which become the fallback's
 * metric label and response header.
 *
 * @module
 */
import { Agent, request as httpRequest } from "node:http";
import type { Pod } from "../../cluster";

/** Why a prefill request failed (a closed set: metric label and `x-kvroute-pd-fallback` value). */
export type PrefillFailure =
  | "prefill-busy"
  | "prefill-status"
  | "prefill-timeout"
  | "prefill-connect"
  | "prefill-malformed"
  | "cancelled";

/** A prefill request's result. */
export type PrefillResult =
  | { readonly ok: true; readonly status: number; readonly body: Buffer }
  | { readonly ok: false; readonly reason: PrefillFailure; readonly status?: number };

/** Options of {@link createPrefillClient}. */
export interface PrefillClientOptions {
  /** Longest a prefill request may take, ms (AIBrix's `AIBRIX_PREFILL_REQUEST_TIMEOUT`). */
  readonly timeoutMs: number;
  /** Most prefill requests in flight at once; beyond, `prefill-busy` at once. */
  readonly maxConcurrent: number;
  /** Largest prefill response read, bytes (a one-token answer is small); beyond: `prefill-malformed`. */
  readonly maxResponseBytes?: number;
}

/** Sends prefill requests. */
export interface PrefillClient {
  /** POST `body` to `pod` at `path`. Never rejects. */
  post(
    pod: Pod,
    path: string,
    body: Uint8Array,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal | undefined,
  ): Promise<PrefillResult>;
  /** Prefill requests in flight now. */
  inFlight(): number;
  /** Close idle keep-alive connections (shutdown). */
  close(): void;
}

const DEFAULT_MAX_RESPONSE_BYTES = 1024 * 1024;

/** Create the client. */
export function createPrefillClient(options: PrefillClientOptions): PrefillClient {
  const maxBytes = options.maxResponseBytes ?? DEFAULT_MAX_RESPONSE_BYTES;
  // Keep-alive: the prefill pods are few and busy; a connection per hop would add a handshake to every TTFT.
  const agent = new Agent({ keepAlive: true, maxSockets: options.maxConcurrent });
  let inFlight = 0;

  function send(
    pod: Pod,
    path: string,
    body: Uint8Array,
    headers: Readonly<Record<string, string>>,
    signal: AbortSignal | undefined,
  ): Promise<PrefillResult> {
    return new Promise((resolve) => {
      let settled = false;
      const done = (r: PrefillResult): void => {
        if (settled) return;
        settled = true;
        clearTimeout(timer);
        signal?.removeEventListener("abort", onAbort);
        resolve(r);
      };
      const req = httpRequest({
        agent,
        host: pod.ip,
        port: pod.port,
        method: "POST",
        path,
        headers: {
          ...headers,
          "content-type": "application/json",
          "content-length": String(body.byteLength),
        },
      });
      const fail = (reason: PrefillFailure, status?: number): void => {
        done(status === undefined ? { ok: false, reason } : { ok: false, reason, status });
        req.destroy();
      };
      const timer = setTimeout(() => fail("prefill-timeout"), options.timeoutMs);
      const onAbort = (): void => fail("cancelled");
      signal?.addEventListener("abort", onAbort, { once: true });
      req.on("error", () => fail("prefill-connect"));
      req.on("response", (res) => {
        const status = res.statusCode ?? 0;
        const chunks: Buffer[] = [];
        let bytes = 0;
        res.on("data", (c: Buffer) => {
          bytes += c.length;
          if (bytes > maxBytes) fail("prefill-malformed", status);
          else chunks.push(c);
        });
        res.on("error", () => fail("prefill-connect", status));
        res.on("end", () => {
          if (status !== 200) fail("prefill-status", status);
          else done({ ok: true, status, body: Buffer.concat(chunks, bytes) });
        });
      });
      req.end(body);
    });
  }

  return {
    async post(pod, path, body, headers, signal) {
      if (signal?.aborted === true) return { ok: false, reason: "cancelled" };
      if (inFlight >= options.maxConcurrent) return { ok: false, reason: "prefill-busy" };
      inFlight++;
      try {
        return await send(pod, path, body, headers, signal);
      } finally {
        inFlight--;
      }
    },
    inFlight: () => inFlight,
    close: () => agent.destroy(),
  };
}
