/**
 * One request's timeline for tracing: the phase timestamps the session and the director mark as the request goes
 * (monotonic milliseconds, the session's clock), and what the request ended as. It only records; the tracer turns a
 * finished timeline into spans later, off the request's path. A request kvroute does not trace has no timeline at
 * all, so the untraced path marks nothing.
 *
 * @module
 */

/** The phases a timeline records, each as a start and an end mark. */
export type TracePhase =
  | "parse-start"
  | "parse-end"
  | "prompt-start"
  | "prompt-end"
  | "queue-start"
  | "queue-end"
  | "pick-start"
  | "pick-end";

/** How a traced request ended: the fields of the request record (or of the error answer) spans show. */
export interface TraceResult {
  /** HTTP status answered or seen from upstream; 0 when there was none. */
  readonly status: number;
  /** `success`, `upstream-error`, `cancelled`, `rejected`, … (a closed set chosen by the session). */
  readonly outcome: string;
  readonly model?: string | undefined;
  readonly pod?: string | undefined;
  readonly strategy?: string | undefined;
  readonly fallbackReason?: string | undefined;
  readonly fallbackTo?: string | undefined;
  /** P/D: the prefill pod, the prefill request's ms, or why there was no prefill hop (see `Pick.pd`). */
  readonly prefillPod?: string | undefined;
  readonly prefillMs?: number | undefined;
  readonly pdSkipped?: string | undefined;
  /** kvroute's error code of an immediate (error) response. */
  readonly errorCode?: string | undefined;
  readonly stream?: boolean | undefined;
  /** When the decision was answered (monotonic ms); undefined when there was none. */
  readonly decidedMs?: number | undefined;
  /** When the first response body byte arrived (monotonic ms). */
  readonly firstByteMs?: number | undefined;
  /** When the request ended (monotonic ms). */
  readonly endMs: number;
}

/** The prefix cache hit of the picked pod: matched leading blocks of the prompt's blocks at that pod's block size. */
export interface PrefixHit {
  readonly blocks: number;
  readonly promptBlocks: number;
}

/** A finished timeline as the tracer reads it. */
export interface FinishedTimeline {
  readonly requestId: string;
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  readonly startedMs: number;
  readonly marks: Readonly<Partial<Record<TracePhase, number>>>;
  /** Strategies that read the prefix saw the picked pod's hit; undefined when none did. */
  readonly prefixHit: PrefixHit | undefined;
  readonly result: TraceResult;
}

/** Longest `tracestate` kept (the W3C limit is 512 characters); a longer one is dropped, never forwarded. */
const MAX_TRACESTATE_CHARS = 512;
/** A W3C `traceparent` is 55 characters; anything much longer is not one (not parsed: it starts a new trace). */
export const MAX_TRACEPARENT_CHARS = 128;

/** The recorder the session and director write into. */
export class RequestTimeline implements FinishedTimeline {
  readonly marks: Partial<Record<TracePhase, number>> = {};
  readonly traceparent: string | undefined;
  readonly tracestate: string | undefined;
  /** The picked pod's prefix hit, when a prefix-reading strategy looked the prompt up. */
  prefixHit: PrefixHit | undefined;
  private model: string | undefined;
  private ended: TraceResult | undefined;

  constructor(
    readonly requestId: string,
    readonly startedMs: number,
    headers: { get(name: string): string | undefined },
    private readonly now: () => number,
    private readonly onEnd: (t: RequestTimeline) => void,
  ) {
    // Only the W3C trace context is read from the client's headers, bounded; the propagator validates it later.
    const tp = headers.get("traceparent");
    this.traceparent = tp !== undefined && tp.length <= MAX_TRACEPARENT_CHARS ? tp : undefined;
    const ts = headers.get("tracestate");
    this.tracestate = ts !== undefined && ts.length <= MAX_TRACESTATE_CHARS ? ts : undefined;
  }

  /** Mark `phase` now (or at `atMs`). A phase marked again keeps the latest mark (the pick that stood). */
  mark(phase: TracePhase, atMs?: number): void {
    if (this.ended === undefined) this.marks[phase] = atMs ?? this.now();
  }

  /** The parsed model, for a request that ends before a decision names it. */
  setModel(model: string): void {
    this.model = model;
  }

  get result(): TraceResult {
    return this.ended ?? { status: 0, outcome: "unfinished", endMs: this.startedMs };
  }

  /** The request ended: hand the timeline to the tracer. Only the first call counts. */
  end(result: TraceResult): void {
    if (this.ended !== undefined) return;
    this.ended =
      result.model === undefined && this.model !== undefined ? { ...result, model: this.model } : result;
    this.onEnd(this);
  }
}
