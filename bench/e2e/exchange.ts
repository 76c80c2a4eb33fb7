/**
 * Per-request state of the driver and the one way it waits for a reply, shared by the request path
 * (`envoy-driver.ts`) and the response path (`response-path.ts`).
 *
 * @module
 */
import type { ProcessingResponse } from "../../src/extproc/messages";
import type { DriverOptions, ErrorKind, ResponseBodyMode } from "./driver-types";
import { immediateStatus } from "./side-stream";
import type { SideStream } from "./side-stream";

/** A failed step; caught in `send` and turned into a result. */
export class Failure extends Error {
  constructor(
    readonly kind: ErrorKind,
    readonly status: number | undefined,
    message: string,
    /** Headers of a local reply (`immediate_response`), when the failure is one. */
    readonly headers?: Readonly<Record<string, string>>,
  ) {
    super(message);
  }
}

/** The reply phases the driver waits for. */
export type Phase = "request_headers" | "request_body" | "response_headers" | "response_body";

/** Per-request state shared by the request and response paths. */
export interface Exchange {
  readonly o: Required<DriverOptions>;
  readonly s: SideStream;
  readonly t0: number;
  /** Set once the server closed the stream with OK: Envoy then continues without processing. */
  done: boolean;
  responseMode: ResponseBodyMode;
  pod?: string;
  decisionMs?: number;
}

/**
 * The next reply of `phase`; undefined when the server closed with OK (processing is over, the request goes on).
 *
 * @throws Failure on an immediate response, a wrong reply, a failed stream or a timeout.
 */
export async function expectReply(
  x: Exchange,
  phase: Phase,
  timeoutMs = x.o.messageTimeoutMs,
): Promise<ProcessingResponse | undefined> {
  if (x.done) return undefined;
  const n = await x.s.next(timeoutMs);
  if (n.kind === "timeout") throw new Failure("extproc_timeout", 504, `no ${phase} reply in ${timeoutMs} ms`);
  if (n.kind === "closed") {
    if (n.code !== 0) throw new Failure("extproc_error", x.o.statusOnError, `grpc ${n.code}: ${n.details}`);
    x.done = true;
    return undefined;
  }
  const r = n.reply;
  if (r.immediate_response) {
    const body = Buffer.from(r.immediate_response.body ?? []).toString("utf8");
    const headers: Record<string, string> = {};
    for (const o of r.immediate_response.headers?.set_headers ?? [])
      headers[o.header.key.toLowerCase()] = Buffer.from(o.header.raw_value ?? []).toString("latin1");
    throw new Failure("immediate_response", immediateStatus(r), body, headers);
  }
  if (r[phase] === undefined)
    throw new Failure("extproc_spurious", 500, `expected ${phase}, got ${replyKind(r)}`);
  return r;
}

function replyKind(r: ProcessingResponse): string {
  return (
    Object.keys(r)
      .filter((k) => r[k as keyof ProcessingResponse] !== undefined)
      .join(",") || "empty"
  );
}
