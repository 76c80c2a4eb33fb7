/**
 * The ext_proc benchmark's load generator: `concurrency` workers, each running whole conversations one after
 * another on fresh bidi streams over one HTTP/2 channel, for a fixed time. Requests are written pre-encoded
 * (identity serializer) and replies are only scanned for their top-level field numbers, so the client spends its
 * CPU on gRPC and not on protobuf; the one reply that matters, the decision, is decoded in full and must carry a
 * `target-pod` header naming a known endpoint.
 *
 * Every step waits for its reply before the next is sent (response chunks too: in production they arrive at token
 * pace, far apart), so each phase's time is a round trip.
 *
 * @module
 */
import { performance } from "node:perf_hooks";
import * as grpc from "@grpc/grpc-js";
import type { ProcessingResponse } from "../src/extproc/messages";
import type { Workload } from "./extproc-workload";

/** The timed phases of one conversation. */
export const PHASES = [
  "requestHeaders",
  "requestBody",
  "responseHeaders",
  "responseBody",
  "conversation",
] as const;
/** One timed phase. */
export type Phase = (typeof PHASES)[number];

/** What one timed run of the load measured. */
export interface LoadResult {
  /** Conversations that completed without error. */
  conversations: number;
  /** Failed conversations by reason. */
  errors: Map<string, number>;
  /** Wall time from the first stream opened to the last conversation finished, in seconds. */
  seconds: number;
  /** Round-trip times per phase of the successful conversations, in ms. */
  latencies: Record<Phase, number[]>;
}

/** An empty result to accumulate into. */
export function emptyResult(): LoadResult {
  const latencies = {} as Record<Phase, number[]>;
  for (const p of PHASES) latencies[p] = [];
  return { conversations: 0, errors: new Map(), seconds: 0, latencies };
}

/** Add `from` into `into`. */
export function accumulate(into: LoadResult, from: LoadResult): void {
  into.conversations += from.conversations;
  into.seconds += from.seconds;
  for (const [k, n] of from.errors) into.errors.set(k, (into.errors.get(k) ?? 0) + n);
  for (const p of PHASES) for (const v of from.latencies[p]) into.latencies[p].push(v);
}

/** `ProcessingResponse` oneof field numbers. */
const FIELD = {
  requestHeaders: 1,
  responseHeaders: 2,
  requestBody: 3,
  responseBody: 4,
  immediate: 7,
} as const;

/** Bitmask of the top-level field numbers (< 32) present in an encoded message; -1 when it is malformed. */
export function topLevelFields(buf: Buffer): number {
  let mask = 0;
  let i = 0;
  const varint = (): number => {
    let v = 0;
    for (let shift = 0; i < buf.length && shift < 35; shift += 7) {
      const b = buf[i++] ?? 0;
      v += (b & 0x7f) * 2 ** shift;
      if (b < 0x80) return v;
    }
    return -1;
  };
  while (i < buf.length) {
    const key = varint();
    if (key < 0) return -1;
    const field = Math.floor(key / 8);
    if (field < 32) mask |= 1 << field;
    switch (key & 7) {
      case 0:
        if (varint() < 0) return -1;
        break;
      case 1:
        i += 8;
        break;
      case 2: {
        const len = varint();
        if (len < 0) return -1;
        i += len;
        break;
      }
      case 5:
        i += 4;
        break;
      default:
        return -1;
    }
  }
  return i === buf.length ? mask : -1;
}

/** Why a reply is not the expected kind, or undefined when it is. */
function wrongKind(reply: Buffer | undefined, field: number): string | undefined {
  if (reply === undefined) return "stream ended early";
  const mask = topLevelFields(reply);
  if (mask < 0) return "malformed reply";
  if (mask & (1 << FIELD.immediate)) return "immediate_response";
  return mask & (1 << field) ? undefined : `reply without field ${field}`;
}

export type RawCall = grpc.ClientDuplexStream<Buffer, Buffer>;

/** One bidi stream with a reply queue. */
export class RawStream {
  private readonly queue: Buffer[] = [];
  private waiter: ((b: Buffer | undefined) => void) | undefined;
  private ended = false;
  readonly status: Promise<grpc.StatusObject>;

  constructor(readonly call: RawCall) {
    call.on("data", (b: Buffer) => {
      const w = this.waiter;
      this.waiter = undefined;
      if (w) w(b);
      else this.queue.push(b);
    });
    call.on("error", () => undefined);
    this.status = new Promise((resolve) =>
      call.on("status", (s: grpc.StatusObject) => {
        this.ended = true;
        const w = this.waiter;
        this.waiter = undefined;
        w?.(undefined);
        resolve(s);
      }),
    );
  }

  /** Write `msg` and wait for the next reply (undefined when the stream ended). */
  exchange(msg: Buffer): Promise<Buffer | undefined> {
    this.call.write(msg);
    return this.next();
  }

  /** Write every message of `msgs` at once, then wait for as many replies (undefined where the stream ended). */
  async exchangeAll(msgs: readonly Buffer[]): Promise<(Buffer | undefined)[]> {
    for (const m of msgs) this.call.write(m);
    const out: (Buffer | undefined)[] = [];
    for (let i = 0; i < msgs.length; i++) out.push(await this.next());
    return out;
  }

  /** The next reply (undefined when the stream ended). */
  private next(): Promise<Buffer | undefined> {
    const r = this.queue.shift();
    if (r || this.ended) return Promise.resolve(r);
    return new Promise((resolve) => (this.waiter = resolve));
  }
}

/** Options of {@link ExtProcLoadClient}. */
export interface LoadClientOptions {
  /** `host:port` of the server. */
  readonly address: string;
  /** HTTP/2 connections to spread the streams over (default 1); conversation `seq` uses connection `seq % n`. */
  readonly connections?: number;
  /** Full decoder for the decision reply. */
  readonly decode: (b: Buffer) => ProcessingResponse;
  /** `target-pod` values accepted in the decision. */
  readonly validTargets: ReadonlySet<string>;
}

/** Extra time after the deadline before open streams are cancelled (a stuck server must not hang the run). */
const STUCK_GRACE_MS = 10_000;
/** How long a counted wave may take before its streams are cancelled (a cold start may load a tokenizer first). */
const WAVE_LIMIT_MS = 60_000;
const METHOD_PATH = "/envoy.service.ext_proc.v3.ExternalProcessor/Process";

/** Drives conversations against one server. */
export class ExtProcLoadClient {
  private readonly clients: grpc.Client[];
  private readonly open = new Set<RawStream>();

  constructor(private readonly o: LoadClientOptions) {
    // grpc-js shares one connection between clients of the same target and options unless each has its own
    // subchannel pool.
    const n = o.connections ?? 1;
    const options = n > 1 ? { "grpc.use_local_subchannel_pool": 1 } : {};
    this.clients = Array.from(
      { length: n },
      () => new grpc.Client(o.address, grpc.credentials.createInsecure(), options),
    );
  }

  /** Run `workload` with `concurrency` workers for `seconds`; `seq` numbers the request ids. */
  async run(
    workload: Workload,
    concurrency: number,
    seconds: number,
    seq: { next: number },
  ): Promise<LoadResult> {
    const result = emptyResult();
    const start = performance.now();
    const deadline = start + seconds * 1000;
    const stuck = setTimeout(
      () => {
        for (const s of this.open) s.call.cancel();
      },
      seconds * 1000 + STUCK_GRACE_MS,
    );
    const worker = async (): Promise<void> => {
      while (performance.now() < deadline) await this.conversation(workload, seq.next++, result);
    };
    await Promise.all(Array.from({ length: concurrency }, worker));
    clearTimeout(stuck);
    result.seconds = (performance.now() - start) / 1000;
    return result;
  }

  /** Run exactly `count` conversations at once (the first wave after a start); `seq` numbers the request ids. */
  async runCount(workload: Workload, count: number, seq: { next: number }): Promise<LoadResult> {
    const result = emptyResult();
    const start = performance.now();
    const stuck = setTimeout(() => {
      for (const s of this.open) s.call.cancel();
    }, WAVE_LIMIT_MS);
    await Promise.all(Array.from({ length: count }, () => this.conversation(workload, seq.next++, result)));
    clearTimeout(stuck);
    result.seconds = (performance.now() - start) / 1000;
    return result;
  }

  /** One whole conversation; records its phase times or its error into `result`. */
  private async conversation(w: Workload, seq: number, result: LoadResult): Promise<void> {
    const t0 = performance.now();
    const identity = (b: Buffer): Buffer => b;
    const client = this.clients[seq % this.clients.length] as grpc.Client;
    const s = new RawStream(client.makeBidiStreamRequest(METHOD_PATH, identity, identity));
    this.open.add(s);
    try {
      const error = await this.steps(s, w, seq, t0, result);
      if (error !== undefined) {
        s.call.cancel();
        result.errors.set(error, (result.errors.get(error) ?? 0) + 1);
      }
    } finally {
      this.open.delete(s);
    }
  }

  /** The conversation's steps; returns the error reason, or undefined after recording the phase times. */
  private async steps(
    s: RawStream,
    w: Workload,
    seq: number,
    t0: number,
    result: LoadResult,
  ): Promise<string | undefined> {
    let bad = wrongKind(await s.exchange(w.requestHeaders(seq)), FIELD.requestHeaders);
    if (bad) return `request_headers: ${bad}`;
    const t1 = performance.now();
    // Every body message is written at once (Envoy streams chunks without waiting for their replies); each gets
    // a request_body reply, the last one is the decision.
    const replies = await s.exchangeAll(w.requestBodyMessages(seq));
    for (const r of replies.slice(0, -1)) {
      bad = wrongKind(r, FIELD.requestBody);
      if (bad) return `request_body chunk: ${bad}`;
    }
    const decision = replies[replies.length - 1];
    bad = wrongKind(decision, FIELD.requestBody) ?? this.badDecision(decision);
    if (bad) return `request_body: ${bad}`;
    const t2 = performance.now();
    bad = wrongKind(await s.exchange(w.responseHeaders), FIELD.responseHeaders);
    if (bad) return `response_headers: ${bad}`;
    const t3 = performance.now();
    for (const chunk of w.responseBodyChunks) {
      bad = wrongKind(await s.exchange(chunk), FIELD.responseBody);
      if (bad) return `response_body: ${bad}`;
    }
    const t4 = performance.now();
    s.call.end();
    const status = await s.status;
    if (status.code !== grpc.status.OK) return `stream status ${grpc.status[status.code] ?? status.code}`;
    const t5 = performance.now();
    const l = result.latencies;
    l.requestHeaders.push(t1 - t0);
    l.requestBody.push(t2 - t1);
    l.responseHeaders.push(t3 - t2);
    l.responseBody.push(t4 - t3);
    l.conversation.push(t5 - t0);
    result.conversations += 1;
    return undefined;
  }

  /** Why the decision reply lacks a valid `target-pod`, or undefined when it has one. */
  private badDecision(reply: Buffer | undefined): string | undefined {
    if (reply === undefined) return "no reply";
    const set = this.o.decode(reply).request_body?.response?.header_mutation?.set_headers ?? [];
    const target = set.find((h) => h.header.key === "target-pod")?.header.raw_value;
    if (target === undefined) return "no target-pod header";
    const value = Buffer.from(target).toString("latin1");
    return this.o.validTargets.has(value) ? undefined : `unknown target-pod ${value}`;
  }

  /** Close the channels. */
  close(): void {
    for (const c of this.clients) c.close();
  }
}
