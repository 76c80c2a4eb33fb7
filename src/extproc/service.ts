/**
 * The `envoy.service.ext_proc.v3.ExternalProcessor/Process` handler: takes one message at a time from the stream
 * (`readMessages` pauses it while a message is in hand: backpressure), hands it to the stream's `Session`, and
 * writes the replies honouring `drain`.
 * Whatever ends the stream — Envoy half-closing, a cancel, a protocol error, shutdown — the session's single
 * `close` runs in `finally`.
 *
 * @module
 */
import * as grpc from "@grpc/grpc-js";
import type { ProcessingRequest, ProcessingResponse } from "./messages";
import { requestCase } from "./messages";
import { ProtocolError } from "./protocol-error";
import type { SessionClose } from "./close-reason";
import { readMessages } from "./message-reader";
import type { ReadStep } from "./message-reader";
import { createSession } from "./session";
import type { Replies, Session, SessionDeps } from "./session";

/** Hooks the service reports to (metrics and logs). */
export interface ServiceHooks {
  onMessage?(kind: string): void;
  onProtocolError?(reason: string, err: ProtocolError): void;
  onStreamOpen?(): void;
  onStreamClose?(why: SessionClose): void;
  onInternalError?(err: unknown): void;
}

/** The ext_proc service with its stream bookkeeping. */
export interface ExtProcService {
  /** The grpc-js handler for `Process`. */
  readonly process: grpc.handleBidiStreamingCall<ProcessingRequest, ProcessingResponse>;
  /** Streams currently open. */
  activeStreams(): number;
  /** Resolves when no stream is open (immediately if none). */
  idle(): Promise<void>;
  /** From now on, streams ended by a cancel are recorded as `shutdown` (set before a forced shutdown). */
  markShutdown(): void;
  /**
   * A drain now refuses new requests: abort the signal of every open stream whose request is not routed yet, so it
   * is answered with the 503 envelope (and leaves the tokenizer queue, the Redis check, the headroom queue) instead
   * of being routed while the server stops. Routed streams are untouched: they finish.
   */
  refuseUnrouted(): void;
}

type Call = grpc.ServerDuplexStream<ProcessingRequest, ProcessingResponse>;

/** Write one reply, waiting for `drain` only when the transport asks for it. */
function write(call: Call, reply: ProcessingResponse): Promise<void> | undefined {
  if (call.destroyed || call.writableEnded) return undefined;
  if (call.write(reply)) return undefined;
  return new Promise((resolve) => {
    const done = (): void => {
      call.off("drain", done);
      call.off("close", done);
      resolve();
    };
    call.on("drain", done);
    call.on("close", done);
  });
}

/** Create the service. `sessionDeps` is shared by every stream. */
export function createExtProcService(sessionDeps: SessionDeps, hooks: ServiceHooks = {}): ExtProcService {
  let open = 0;
  let shuttingDown = false;
  let idleWaiters: (() => void)[] = [];
  const sessions = new Set<Session>();

  async function process(call: Call): Promise<void> {
    open += 1;
    hooks.onStreamOpen?.();
    const session = createSession(sessionDeps);
    sessions.add(session);
    let why: SessionClose = "client-ended";
    let status: { code: grpc.status; details: string } | undefined;
    const onCancelled = (): void => {
      why = shuttingDown ? "shutdown" : "cancelled";
      // At once, not in `finally`: a decision under way (tokenizing, in the headroom queue) stops now, and the
      // pending reply it holds resolves, so this handler is not held until the step would have ended.
      session.abort(why);
    };
    call.on("cancelled", onCancelled);
    // A stream error after cancel is expected; without a listener it would be thrown as uncaught.
    call.on("error", () => undefined);
    /** An error from the session: the stream ends with its status (set in `finally`). */
    const failed = (e: unknown): ReadStep => {
      why = "error";
      if (e instanceof ProtocolError) {
        hooks.onProtocolError?.(e.reason, e);
        status = { code: grpc.status.INVALID_ARGUMENT, details: e.message };
      } else {
        hooks.onInternalError?.(e);
        status = { code: grpc.status.INTERNAL, details: "kvroute internal error" };
      }
      return "stop";
    };
    /** Write `replies` from index `from` on, waiting for `drain` only when the transport asks for it. */
    const send = (
      msg: ProcessingRequest,
      replies: ProcessingResponse[],
      from: number,
    ): ReadStep | Promise<ReadStep> => {
      // In observability mode Envoy never waits for, and must not receive, replies.
      if (!msg.observability_mode) {
        for (let i = from; i < replies.length; i++) {
          const pending = write(call, replies[i]!);
          if (pending) return pending.then(() => send(msg, replies, i + 1));
        }
      }
      return session.ended ? "stop" : "next";
    };
    /** One message: its replies, written before the next message is read. Most are answered at once. */
    const step = (msg: ProcessingRequest): ReadStep | Promise<ReadStep> => {
      hooks.onMessage?.(requestCase(msg) ?? "empty");
      let handled: Replies;
      try {
        handled = session.handle(msg);
      } catch (e) {
        return failed(e);
      }
      if (handled instanceof Promise) return handled.then((replies) => send(msg, replies, 0), failed);
      return send(msg, handled, 0);
    };
    try {
      // Stopping leaves the call open: its status is sent below.
      await readMessages<ProcessingRequest>(call, step);
    } catch {
      // The stream itself failed (transport error or a cancel tearing it down mid-read).
      if (why === "client-ended") why = "reset";
    } finally {
      call.off("cancelled", onCancelled);
      sessions.delete(session);
      session.close(why);
      if (!call.destroyed && !call.writableEnded) {
        if (status) call.emit("error", status);
        else call.end();
      }
      open -= 1;
      hooks.onStreamClose?.(why);
      if (open === 0) {
        const waiters = idleWaiters;
        idleWaiters = [];
        for (const w of waiters) w();
      }
    }
  }

  return {
    process: (call) => {
      process(call).catch((e: unknown) => hooks.onInternalError?.(e));
    },
    activeStreams: () => open,
    idle: () => (open === 0 ? Promise.resolve() : new Promise((resolve) => idleWaiters.push(resolve))),
    markShutdown: () => {
      shuttingDown = true;
    },
    refuseUnrouted: () => {
      for (const session of sessions) session.abort("draining");
    },
  };
}
