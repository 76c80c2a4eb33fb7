/**
 * The response half of a stream: response headers, body chunks and trailers after the decision. Records the
 * status, harvests usage, and reports the request finished exactly once, whichever path ends it.
 *
 * @module
 */
import type { Pod } from "../cluster/pod";
import type { InferenceRequest } from "../request/inference-request";
import type { Outcome, Pick } from "../routing/framework";
import { createUsageHarvester } from "../response";
import type { UsageHarvester } from "../response";
import { readHeaderMap } from "./headers";
import { LOCAL_REPLY_SNIFF_BYTES, mayBeLocalReply, responseHead, responseSource } from "./envoy-local-reply";
import type { ResponseHead } from "./envoy-local-reply";
import type { BodySendMode, ProcessingRequest, ProcessingResponse, RequestCase } from "./messages";
import { ProtocolError } from "./protocol-error";
import { bodyContinue, bodyStreamed, responseHeadersReply, trailersContinue } from "./replies";
import { readServedEndpoint, type ServedOutcome } from "./served-endpoint";

/** Response header echoing the served endpoint in conformance test mode (what the reference picker sets). */
export const CONFORMANCE_SERVED_HEADER = "x-conformance-test-served-endpoint";

/**
 * Why a stream ended: `client-ended`, Envoy half-closed it; `cancelled`, Envoy cancelled it (RST_STREAM);
 * `reset`, the transport failed; `shutdown`, kvroute cut it while stopping; `error`, a protocol or internal error.
 */
export type SessionClose = "client-ended" | "cancelled" | "reset" | "shutdown" | "error";

/** One finished request, for the request log line and metrics. Never contains prompt text. */
export interface RequestRecord {
  readonly requestId: string;
  readonly model: string | undefined;
  readonly pod: string | undefined;
  readonly address: string | undefined;
  /** The pod kvroute picked, when the gateway reported that another one (`pod`) served the request. */
  readonly movedFrom?: string | undefined;
  readonly strategy: string | undefined;
  readonly fallbackReason: string | undefined;
  /** What the decision fell back to when the strategy had no signal. */
  readonly fallbackTo: string | undefined;
  /** Final upstream HTTP status, 0 when no response headers were seen. */
  readonly status: number;
  readonly outcome: Outcome["kind"];
  readonly stream: boolean;
  readonly promptTokens: number | undefined;
  readonly completionTokens: number | undefined;
  readonly totalTokens: number | undefined;
  /** Why usage could not be read, when it could not. */
  readonly usageUnreadable: "malformed" | "truncated" | undefined;
  readonly decisionMs: number | undefined;
  /** Request headers to the first response body chunk. */
  readonly firstByteMs: number | undefined;
  readonly totalMs: number;
  /** The user whose TPM window the usage is charged to (the `user` header's record), when limits apply. */
  readonly user: string | undefined;
}

/** Options of `createResponseTracker`. */
export interface ResponseTrackerOptions {
  readonly requestId: string;
  readonly startedMs: number;
  readonly decidedMs: number | undefined;
  readonly request: InferenceRequest | undefined;
  /** The decision; `undefined` when Envoy answered before kvroute decided. */
  readonly pick: Extract<Pick, { t: "routed" | "fallback" }> | undefined;
  readonly responseMode: BodySendMode;
  readonly maxResponseBufferBytes: number;
  readonly now: () => number;
  readonly onFinished: ((r: RequestRecord) => void) | undefined;
  /** Copied into the record (see {@link RequestRecord.user}). */
  readonly user?: string | undefined;
  /**
   * Extra headers for the response-headers reply of a routed request (`x-update-rpm`). There is deliberately no
   * `x-update-tpm`: AIBrix sets it from the TPM counter after charging the completed usage, which is known only
   * with the last body chunk; sending it would mean holding that chunk for a Redis round trip, and in STREAMED
   * mode the response headers have already left by then anyway.
   */
  readonly responseHeaders?: readonly (readonly [string, string])[];
  /**
   * The pod of the request's model at `address` (an `ip:port`), for the gateway's served-endpoint report;
   * undefined when no such pod is known. Absent: every report other than the pick's own address is `unknown`.
   */
  readonly servedPod?: (address: string) => Pod | undefined;
  /** How the gateway's served-endpoint report was handled: once per routed request whose response began. */
  readonly onServed?: (outcome: ServedOutcome) => void;
  /** Conformance test mode: echo the reported served endpoint as `x-conformance-test-served-endpoint`. */
  readonly echoServed?: boolean;
}

/** The response half's state. */
export interface ResponseTracker {
  /** Replies for one response-path message of case `kind`. Throws `ProtocolError` when it is out of order. */
  handle(msg: ProcessingRequest, kind: RequestCase): ProcessingResponse[];
  /** Finish now with `outcome` (used when kvroute itself ends the request). Idempotent. */
  finish(outcome: Outcome): void;
  /** The stream ended: finish with the outcome `why` implies, if not finished yet. Idempotent. */
  close(why: SessionClose): void;
}

/** Create the tracker; it owns the pick's release from here on. */
export function createResponseTracker(o: ResponseTrackerOptions): ResponseTracker {
  let status = 0;
  let headersSeen = false;
  let bodyEnded = false;
  let finished = false;
  let firstByteMs: number | undefined;
  let harvester: UsageHarvester | undefined;
  let head: ResponseHead | undefined;
  /** The first bytes of a response that may be Envoy's local reply (bounded), to read which one. */
  let sniffed: Buffer[] | undefined;
  let sniffedBytes = 0;
  /** Where the request went: the pick, or the pod the gateway reported served it. */
  let pod: Pod | undefined = o.pick?.pod;
  /** The first served-endpoint report seen (later ones are ignored), or undefined before it. */
  let served: { readonly address: string | undefined } | undefined;

  /**
   * Read the gateway's served-endpoint report from the first response message that carries one; move the
   * reservation when another pod of the model served.
   */
  function observeServed(msg: ProcessingRequest): void {
    if (served !== undefined || finished) return;
    const report = readServedEndpoint(msg.metadata_context);
    if (report.t === "absent") return;
    served = { address: report.t === "address" ? report.address : undefined };
    if (!o.pick || !pod) return;
    if (report.t === "malformed") return o.onServed?.("malformed");
    if (report.address === pod.address) return o.onServed?.("same");
    const to = o.servedPod?.(report.address);
    if (to === undefined) return o.onServed?.("unknown");
    if (o.pick.moveTo(to)) pod = to;
    o.onServed?.(pod === to ? "moved" : "same");
  }

  function finish(outcome: Outcome): void {
    if (finished) return;
    finished = true;
    const h = harvester?.end();
    const usage = h?.usage;
    const endMs = o.now();
    // A routed response that began and ended without a report: the gateway does not send one.
    if (o.pick && headersSeen && served === undefined) o.onServed?.("absent");
    o.pick?.release({
      ...outcome,
      ...(head === undefined
        ? {}
        : { source: responseSource(head, sniffed && Buffer.concat(sniffed).toString("latin1")) }),
      ...(usage ? { promptTokens: usage.promptTokens, completionTokens: usage.completionTokens } : {}),
      // Only a stream's first byte is its first token; a JSON body's first byte comes after the whole generation.
      ...(o.decidedMs !== undefined && firstByteMs !== undefined && o.request?.stream
        ? { firstTokenMs: firstByteMs - o.decidedMs }
        : {}),
      ...(o.decidedMs !== undefined ? { durationMs: endMs - o.decidedMs } : {}),
    });
    o.onFinished?.({
      requestId: o.requestId,
      model: o.request?.model,
      pod: pod?.name,
      address: pod?.address,
      movedFrom: pod !== o.pick?.pod ? o.pick?.pod.name : undefined,
      strategy: o.pick?.strategy,
      fallbackReason: o.pick?.t === "fallback" ? o.pick.reason : undefined,
      fallbackTo: o.pick?.t === "fallback" ? o.pick.fallbackTo : undefined,
      status: outcome.status ?? status,
      outcome: outcome.kind,
      stream: o.request?.stream ?? false,
      promptTokens: usage?.promptTokens,
      completionTokens: usage?.completionTokens,
      totalTokens: usage?.totalTokens,
      usageUnreadable: h?.malformed ? "malformed" : h?.truncated ? "truncated" : undefined,
      decisionMs: o.decidedMs === undefined ? undefined : o.decidedMs - o.startedMs,
      firstByteMs: firstByteMs === undefined ? undefined : firstByteMs - o.startedMs,
      totalMs: endMs - o.startedMs,
      user: o.user,
    });
  }

  const byStatus = (): Outcome => ({
    kind: status >= 400 || status === 0 ? "upstream-error" : "success",
    status,
  });

  function onHeaders(msg: ProcessingRequest): ProcessingResponse[] {
    if (headersSeen) throw new ProtocolError("duplicate-response-headers", "responding");
    headersSeen = true;
    const headers = readHeaderMap(msg.response_headers?.headers);
    const parsed = Number.parseInt(headers.get(":status") ?? "", 10);
    status = Number.isInteger(parsed) && parsed >= 100 && parsed <= 599 ? parsed : 0;
    head = responseHead(status, headers);
    if (mayBeLocalReply(head)) sniffed = [];
    const stream = o.request?.stream ?? false;
    const contentType = headers.get("content-type");
    harvester = createUsageHarvester({
      stream,
      ...(contentType === undefined ? {} : { contentType }),
      maxBufferedBytes: o.maxResponseBufferBytes,
    });
    const extra = [...(o.pick?.responseHeaders ?? []), ...(o.responseHeaders ?? [])];
    if (o.echoServed && served?.address !== undefined)
      extra.push([CONFORMANCE_SERVED_HEADER, served.address]);
    const reply = responseHeadersReply(
      o.requestId,
      o.pick && pod && { pod, strategy: o.pick.strategy, extra },
    );
    if (msg.response_headers?.end_of_stream) {
      bodyEnded = true;
      finish(byStatus());
    }
    return [reply];
  }

  function onBody(msg: ProcessingRequest): ProcessingResponse[] {
    if (!headersSeen) throw new ProtocolError("response-body-before-headers", "responding");
    if (bodyEnded) throw new ProtocolError("response-body-after-end", "responding");
    const chunk = msg.response_body?.body ?? Buffer.alloc(0);
    const eos = msg.response_body?.end_of_stream === true;
    if (firstByteMs === undefined && chunk.length > 0) firstByteMs = o.now();
    if (!finished) harvester?.push(chunk);
    if (sniffed && sniffedBytes < LOCAL_REPLY_SNIFF_BYTES && chunk.length > 0) {
      const part = chunk.subarray(0, LOCAL_REPLY_SNIFF_BYTES - sniffedBytes);
      sniffed.push(Buffer.from(part));
      sniffedBytes += part.length;
    }
    if (eos) {
      bodyEnded = true;
      finish(byStatus());
    }
    if (o.responseMode === "FULL_DUPLEX_STREAMED") return [bodyStreamed("response_body", chunk, eos)];
    return [bodyContinue("response_body")];
  }

  return {
    handle(msg, kind) {
      observeServed(msg);
      switch (kind) {
        case "response_headers":
          return onHeaders(msg);
        case "response_body":
          return onBody(msg);
        case "response_trailers":
          bodyEnded = true;
          finish(byStatus());
          return [trailersContinue("response_trailers")];
        default:
          throw new ProtocolError(`unexpected-${kind}`.replace(/_/g, "-"), "responding");
      }
    },
    finish,
    close(why) {
      if (finished) return;
      if (why === "client-ended" && headersSeen && (o.responseMode === "NONE" || bodyEnded)) {
        // Without response bodies, Envoy half-closing after the headers is the normal end of the request.
        finish(byStatus());
        return;
      }
      // Envoy ends the side stream early (by half-close or by cancel; which one is a transport detail) only when
      // the downstream request went away before the response completed.
      const kind: Outcome["kind"] = why === "client-ended" ? "cancelled" : why;
      finish({ kind, status });
    },
  };
}
