/**
 * An ext_proc client that ends its streams the way Envoy does, written on `node:http2` directly so every frame is
 * under control: each conversation opens a stream, sends request headers, request body and response headers as gRPC
 * messages (waiting for each reply), then sends END_STREAM followed at once by RST_STREAM(NO_ERROR). That is
 * Envoy's `ExternalProcessorStreamImpl::close()` (`closeStream()` then `resetStream()`; a local reset is sent as
 * NO_ERROR by Envoy's HTTP/2 codec) whenever `envoy.reloadable_features.ext_proc_graceful_grpc_close` is off, its
 * default.
 *
 * Node's `Http2Stream.close(NO_ERROR)` after `end()` waits for the END_STREAM frame to be written and then submits
 * the reset, so the frame order is Envoy's. The server is still waiting for the client's half-close at that point
 * (kvroute, in STREAMED response mode, expects response body chunks that never come), so every conversation
 * really puts one RST_STREAM on the wire.
 *
 * A GOAWAY from the server is counted and the connection replaced by a new one, as Envoy would.
 *
 * @module
 */
import http2 from "node:http2";
import { performance } from "node:perf_hooks";
import { topLevelFields } from "./extproc-client";
import type { Workload } from "./extproc-workload";

/** `ProcessingResponse` oneof field numbers of the replies each step expects, and of `immediate_response`. */
const REPLY_FIELD = { requestHeaders: 1, responseHeaders: 2, requestBody: 3, immediate: 7 } as const;
const PROCESS_PATH = "/envoy.service.ext_proc.v3.ExternalProcessor/Process";
const GRPC_PREFIX_BYTES = 5;

/** How one conversation ended. */
export type ConversationOutcome =
  { readonly ok: true; readonly ms: number } | { readonly ok: false; readonly reason: string };

/** A gRPC length-prefixed message frame of `payload` (uncompressed). */
function grpcFrame(payload: Buffer): Buffer {
  const out = Buffer.allocUnsafe(GRPC_PREFIX_BYTES + payload.length);
  out.writeUInt8(0, 0);
  out.writeUInt32BE(payload.length, 1);
  payload.copy(out, GRPC_PREFIX_BYTES);
  return out;
}

/** Splits a DATA byte stream into gRPC messages. */
class GrpcMessageReader {
  private pending: Buffer = Buffer.alloc(0);

  /** Messages completed by `chunk`. */
  push(chunk: Buffer): Buffer[] {
    this.pending = this.pending.length === 0 ? chunk : Buffer.concat([this.pending, chunk]);
    const out: Buffer[] = [];
    while (this.pending.length >= GRPC_PREFIX_BYTES) {
      const len = this.pending.readUInt32BE(1);
      if (this.pending.length < GRPC_PREFIX_BYTES + len) break;
      out.push(this.pending.subarray(GRPC_PREFIX_BYTES, GRPC_PREFIX_BYTES + len));
      this.pending = this.pending.subarray(GRPC_PREFIX_BYTES + len);
    }
    return out;
  }
}

/** Why `reply` is not a reply carrying `field`, or undefined when it is. */
function wrongReply(reply: Buffer, field: number): string | undefined {
  const mask = topLevelFields(reply);
  if (mask < 0) return "malformed reply";
  if (mask & (1 << REPLY_FIELD.immediate)) return "immediate_response";
  return mask & (1 << field) ? undefined : `reply without field ${field}`;
}

/** One conversation on `session`: three request/reply steps, then Envoy's END_STREAM + RST_STREAM. */
function converse(
  session: http2.ClientHttp2Session,
  workload: Workload,
  seq: number,
): Promise<ConversationOutcome> {
  const steps: readonly (readonly [Buffer, number])[] = [
    [workload.requestHeaders(seq), REPLY_FIELD.requestHeaders],
    [workload.requestBody, REPLY_FIELD.requestBody],
    [workload.responseHeaders, REPLY_FIELD.responseHeaders],
  ];
  const started = performance.now();
  return new Promise((resolve) => {
    let settled = false;
    const settle = (o: ConversationOutcome): void => {
      if (settled) return;
      settled = true;
      resolve(o);
    };
    let stream: http2.ClientHttp2Stream;
    try {
      stream = session.request({
        ":method": "POST",
        ":path": PROCESS_PATH,
        "content-type": "application/grpc",
        te: "trailers",
      });
    } catch (err) {
      settle({ ok: false, reason: (err as NodeJS.ErrnoException).code ?? "request failed" });
      return;
    }
    const reader = new GrpcMessageReader();
    let step = 0;
    stream.on("data", (chunk: Buffer) => {
      for (const reply of reader.push(chunk)) {
        const expected = steps[step];
        if (!expected || settled) return;
        const wrong = wrongReply(reply, expected[1]);
        if (wrong !== undefined) {
          settle({ ok: false, reason: wrong });
          stream.close(http2.constants.NGHTTP2_CANCEL);
          return;
        }
        step++;
        const next = steps[step];
        if (next) {
          stream.write(grpcFrame(next[0]));
          continue;
        }
        // Envoy's close(): END_STREAM, then RST_STREAM(NO_ERROR) once END_STREAM is written.
        settle({ ok: true, ms: performance.now() - started });
        stream.end();
        stream.close(http2.constants.NGHTTP2_NO_ERROR);
      }
    });
    stream.on("trailers", (t: http2.IncomingHttpHeaders) => {
      settle({ ok: false, reason: `grpc-status ${String(t["grpc-status"])}` });
    });
    stream.on("error", (err: NodeJS.ErrnoException) =>
      settle({ ok: false, reason: err.code ?? err.message }),
    );
    stream.on("close", () =>
      settle({ ok: false, reason: `stream closed (rst ${stream.rstCode ?? "none"})` }),
    );
    const first = steps[0];
    if (first) stream.write(grpcFrame(first[0]));
  });
}

/** Client-side counts across all connections. */
export interface EnvoyLikeCounts {
  /** GOAWAY frames received (each also replaces its connection). */
  goaways: number;
  /** Connections opened, replacements included. */
  connections: number;
}

/**
 * `connections` HTTP/2 connections to one ext_proc server, used round-robin; a connection that receives GOAWAY is
 * counted and replaced for the conversations that follow (those in flight on it finish or fail there).
 */
export class EnvoyLikeClient {
  readonly counts: EnvoyLikeCounts = { goaways: 0, connections: 0 };
  private readonly sessions: http2.ClientHttp2Session[] = [];
  private next = 0;
  private closed = false;

  constructor(
    private readonly authority: string,
    connections: number,
  ) {
    for (let i = 0; i < connections; i++) this.sessions.push(this.open(i));
  }

  private open(slot: number): http2.ClientHttp2Session {
    this.counts.connections++;
    const session = http2.connect(this.authority);
    session.on("error", () => undefined);
    session.once("goaway", () => {
      this.counts.goaways++;
      if (!this.closed && this.sessions[slot] === session) this.sessions[slot] = this.open(slot);
    });
    return session;
  }

  /** Run one conversation (number `seq`, which sets its `x-request-id`) on the next connection. */
  conversation(workload: Workload, seq: number): Promise<ConversationOutcome> {
    const slot = this.next++ % this.sessions.length;
    const session = this.sessions[slot];
    if (!session) return Promise.resolve({ ok: false, reason: "no connection" });
    return converse(session, workload, seq);
  }

  /** Close every connection (in-flight streams are cut). */
  close(): void {
    this.closed = true;
    for (const s of this.sessions) s.destroy();
  }
}
