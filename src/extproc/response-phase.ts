/**
 * The response half of a stream: response headers, body chunks and trailers after the decision. Records the
 * status, harvests usage, and reports the request finished exactly once, whichever path ends it.
 *
 * Its state is one tagged union, `Phase`: awaiting the response headers, streaming the body (what the headers
 * said, the usage harvester, the bytes sniffed for Envoy's local reply), or done (the request was reported; only
 * what later messages are checked against is kept). Where the request went — the pick's pod, or the one the
 * gateway reported — is a second, independent union, since the report may ride on any response message.
 *
 * @module
 */
import { endpointName } from "../cluster";
import type { Pod } from "../cluster";
import type { InferenceRequest } from "../request";
import type { Outcome, Pick } from "../routing";
import { createUsageHarvester } from "../response";
import type { UsageHarvester } from "../response";
import { readHeaderMap } from "./headers";
import { LOCAL_REPLY_SNIFF_BYTES, mayBeLocalReply, responseHead, responseSource } from "./envoy-local-reply";
import type { ResponseHead } from "./envoy-local-reply";
import type { BodySendMode, ProcessingRequest, ProcessingResponse, RequestCase } from "./messages";
import { unreachable } from "./close-reason";
import type { SessionClose } from "./close-reason";
import { ProtocolError } from "./protocol-error";
import { bodyContinue, bodyStreamed, responseHeadersReply, trailersContinue } from "./replies";
import type { RequestRecord } from "./request-record";
import { readServedEndpoint, type ServedOutcome } from "./served-endpoint";

/** Response header echoing the served endpoint in conformance test mode (what the reference picker sets). */
export const CONFORMANCE_SERVED_HEADER = "x-conformance-test-served-endpoint";

export type { SessionClose } from "./close-reason";
export type { RequestRecord } from "./request-record";

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

/** What the response headers said, and what the body has shown so far. */
interface ResponseSeen {
  /** The upstream HTTP status, 0 when `:status` was missing or out of range. */
  readonly status: number;
  readonly head: ResponseHead;
  readonly harvester: UsageHarvester;
  /** The first bytes of a response that may be Envoy's local reply (bounded), to read which one; else undefined. */
  readonly sniff: { readonly chunks: Buffer[]; bytes: number } | undefined;
  /** When the first non-empty body chunk arrived (monotonic ms). */
  firstByteMs: number | undefined;
  /** When the chunk completing the first SSE data event arrived (monotonic ms). */
  firstTokenMs: number | undefined;
}

/** The response half's state; transitions happen only in `onHeaders`, `onBody`, `onTrailers` and `end`. */
type Phase =
  | { readonly t: "awaiting-headers" }
  | { readonly t: "streaming-body"; readonly seen: ResponseSeen }
  | {
      readonly t: "done";
      /** Whether response headers were seen (a second set is a protocol error). */
      readonly headersSeen: boolean;
      /** Whether the body ended (a later body chunk is a protocol error). */
      readonly bodyEnded: boolean;
    };

/** Where the request went: the pick's pod until the gateway reports; then the reported address (if readable). */
type Endpoint =
  | { readonly t: "unreported"; readonly pod: Pod | undefined }
  | { readonly t: "reported"; readonly pod: Pod | undefined; readonly address: string | undefined };

/** Create the tracker; it owns the pick's release from here on. */
export function createResponseTracker(o: ResponseTrackerOptions): ResponseTracker {
  let phase: Phase = { t: "awaiting-headers" };
  let endpoint: Endpoint = { t: "unreported", pod: o.pick?.pod };

  /**
   * Read the gateway's served-endpoint report from the first response message that carries one; move the
   * reservation when another pod of the model served.
   */
  function observeServed(msg: ProcessingRequest): void {
    if (endpoint.t === "reported" || phase.t === "done") return;
    const report = readServedEndpoint(msg.metadata_context);
    if (report.t === "absent") return;
    const { pod } = endpoint;
    endpoint = { t: "reported", pod, address: report.t === "address" ? report.address : undefined };
    if (!o.pick || !pod) return;
    if (report.t === "malformed") return o.onServed?.("malformed");
    if (report.address === pod.address) return o.onServed?.("same");
    const to = o.servedPod?.(report.address);
    if (to === undefined) return o.onServed?.("unknown");
    if (o.pick.moveTo(to)) endpoint = { ...endpoint, pod: to };
    o.onServed?.(endpoint.pod === to ? "moved" : "same");
  }

  /** The one transition to `done`: release the pick and report the request, once. */
  function end(outcome: Outcome, bodyEnded: boolean, closed?: SessionClose): void {
    switch (phase.t) {
      case "done":
        return;
      case "awaiting-headers":
        phase = { t: "done", headersSeen: false, bodyEnded };
        return report(outcome, undefined, closed);
      case "streaming-body": {
        const { seen } = phase;
        phase = { t: "done", headersSeen: true, bodyEnded };
        return report(outcome, seen, closed);
      }
      default:
        return unreachable(phase);
    }
  }

  function report(outcome: Outcome, seen: ResponseSeen | undefined, closed: SessionClose | undefined): void {
    const h = seen?.harvester.end();
    const usage = h?.usage;
    const endMs = o.now();
    const firstByteMs = seen?.firstByteMs;
    const firstTokenMs = seen?.firstTokenMs;
    const pod = endpoint.pod;
    // A routed response that began and ended without a report: the gateway does not send one.
    if (o.pick && seen && endpoint.t === "unreported") o.onServed?.("absent");
    o.pick?.release({
      ...outcome,
      ...(seen === undefined
        ? {}
        : {
            source: responseSource(
              seen.head,
              seen.sniff && Buffer.concat(seen.sniff.chunks).toString("latin1"),
            ),
          }),
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
      prefixHitBlocks: o.pick?.prefix?.hitBlocks,
      prefixLookupBlocks: o.pick?.prefix?.lookupBlocks,
      pd: o.pick?.pd,
      // 0 is "no response status" (none seen, or out of range): the record says so by leaving it out.
      status: outcome.status || seen?.status || undefined,
      outcome: outcome.kind,
      closeReason: outcome.kind === "success" ? undefined : closed,
      stream: o.request?.stream ?? false,
      promptTokens: usage?.promptTokens,
      completionTokens: usage?.completionTokens,
      totalTokens: usage?.totalTokens,
      usageUnreadable: h?.malformed ? "malformed" : h?.truncated ? "truncated" : undefined,
      decisionMs: o.decidedMs === undefined ? undefined : o.decidedMs - o.startedMs,
      firstByteMs: firstByteMs === undefined ? undefined : firstByteMs - o.startedMs,
      firstTokenMs: firstTokenMs === undefined ? undefined : firstTokenMs - o.startedMs,
      totalMs: endMs - o.startedMs,
      user: o.user,
      endpoint: pod && endpointName(pod),
    });
  }

  /** The outcome the upstream status says (no status seen: an upstream error). */
  const byStatus = (status: number): Outcome => ({
    kind: status >= 400 || status === 0 ? "upstream-error" : "success",
    status,
  });

  function onHeaders(msg: ProcessingRequest): ProcessingResponse[] {
    const headersSeen = phase.t === "streaming-body" || (phase.t === "done" && phase.headersSeen);
    if (headersSeen) throw new ProtocolError("duplicate-response-headers", "responding");
    const headers = readHeaderMap(msg.response_headers?.headers);
    const parsed = Number.parseInt(headers.get(":status") ?? "", 10);
    const status = Number.isInteger(parsed) && parsed >= 100 && parsed <= 599 ? parsed : 0;
    const eos = msg.response_headers?.end_of_stream === true;
    if (phase.t === "done") {
      // Finished before the response began (kvroute ended the request): answer, record nothing.
      phase = { t: "done", headersSeen: true, bodyEnded: eos };
    } else {
      const head = responseHead(status, headers);
      const contentType = headers.get("content-type");
      const harvester = createUsageHarvester({
        stream: o.request?.stream ?? false,
        ...(contentType === undefined ? {} : { contentType }),
        maxBufferedBytes: o.maxResponseBufferBytes,
      });
      const sniff = mayBeLocalReply(head) ? { chunks: [], bytes: 0 } : undefined;
      phase = {
        t: "streaming-body",
        seen: { status, head, harvester, sniff, firstByteMs: undefined, firstTokenMs: undefined },
      };
    }
    const { pod } = endpoint;
    const extra = [...(o.pick?.responseHeaders ?? []), ...(o.responseHeaders ?? [])];
    if (o.echoServed && endpoint.t === "reported" && endpoint.address !== undefined)
      extra.push([CONFORMANCE_SERVED_HEADER, endpoint.address]);
    const reply = responseHeadersReply(
      o.requestId,
      o.pick && pod && { pod, strategy: o.pick.strategy, extra },
    );
    if (eos) end(byStatus(status), true);
    return [reply];
  }

  function onBody(msg: ProcessingRequest): ProcessingResponse[] {
    const chunk = msg.response_body?.body ?? Buffer.alloc(0);
    const eos = msg.response_body?.end_of_stream === true;
    switch (phase.t) {
      case "awaiting-headers":
        throw new ProtocolError("response-body-before-headers", "responding");
      case "done":
        if (!phase.headersSeen) throw new ProtocolError("response-body-before-headers", "responding");
        if (phase.bodyEnded) throw new ProtocolError("response-body-after-end", "responding");
        if (eos) phase = { t: "done", headersSeen: true, bodyEnded: true };
        break;
      case "streaming-body": {
        const { seen } = phase;
        if (seen.firstByteMs === undefined && chunk.length > 0) seen.firstByteMs = o.now();
        seen.harvester.push(chunk);
        // A property read per chunk until the first event: keep-alive comments and empty lines are no token.
        if (seen.firstTokenMs === undefined && seen.harvester.firstDataSeen) {
          seen.firstTokenMs = o.now();
          // The pod has prefilled the prompt: strategies holding it as prefill backlog learn it now, not at the end.
          o.pick?.firstToken?.();
        }
        const { sniff } = seen;
        if (sniff && sniff.bytes < LOCAL_REPLY_SNIFF_BYTES && chunk.length > 0) {
          const part = chunk.subarray(0, LOCAL_REPLY_SNIFF_BYTES - sniff.bytes);
          sniff.chunks.push(Buffer.from(part));
          sniff.bytes += part.length;
        }
        if (eos) end(byStatus(seen.status), true);
        break;
      }
      default:
        return unreachable(phase);
    }
    if (o.responseMode === "FULL_DUPLEX_STREAMED") return [bodyStreamed("response_body", chunk, eos)];
    return [bodyContinue("response_body")];
  }

  function onTrailers(): ProcessingResponse[] {
    switch (phase.t) {
      case "awaiting-headers":
        end(byStatus(0), true);
        break;
      case "streaming-body":
        end(byStatus(phase.seen.status), true);
        break;
      case "done":
        phase = { ...phase, bodyEnded: true };
        break;
      default:
        return unreachable(phase);
    }
    return [trailersContinue("response_trailers")];
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
          return onTrailers();
        default:
          throw new ProtocolError(`unexpected-${kind}`.replace(/_/g, "-"), "responding");
      }
    },
    finish: (outcome) => end(outcome, false),
    close(why) {
      switch (phase.t) {
        case "done":
          return;
        case "awaiting-headers":
          // Envoy ends the side stream early (by half-close or by cancel; which one is a transport detail) only
          // when the downstream request went away before the response completed.
          return end({ kind: why === "client-ended" ? "cancelled" : why, status: 0 }, false, why);
        case "streaming-body": {
          const { status } = phase.seen;
          // Without response bodies, Envoy half-closing after the headers is the normal end of the request.
          if (why === "client-ended" && o.responseMode === "NONE") return end(byStatus(status), false, why);
          return end({ kind: why === "client-ended" ? "cancelled" : why, status }, false, why);
        }
        default:
          return unreachable(phase);
      }
    },
  };
}
