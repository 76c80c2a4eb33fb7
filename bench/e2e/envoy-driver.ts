/**
 * The end-to-end driver: plays Envoy (ext_proc filter + ORIGINAL_DST router, as configured in `envoy/envoy.yaml`)
 * for one HTTP request at a time, so a request's whole life runs through kvroute:
 *
 * 1. request path on a fresh ext_proc stream, in Envoy's ext_proc message order for the chosen body mode:
 *    headers (with `protocol_config` on the first message), then the body whole (BUFFERED) or in chunks
 *    (STREAMED, with or without waiting for the headers reply; FULL_DUPLEX_STREAMED, whose forwarded body is
 *    the concatenation of kvroute's `streamed_response` chunks); header mutations applied as Envoy applies
 *    them (in a body reply only in BUFFERED, where the headers have not left yet); `mode_override` honoured
 *    when allowed;
 * 2. the HTTP request to the `ip:port` in the target header (keep-alive `node:http` agent);
 * 3. response path: the upstream's headers, then its body chunks as they arrive (STREAMED: each waits for its
 *    reply before the client sees it; FULL_DUPLEX_STREAMED: the client sees kvroute's streamed chunks), then
 *    `end_of_stream`, then the half-close.
 *
 * The client-visible bytes are timed (first content token, end) and read for usage. A failure at any step becomes a
 * result with an {@link ErrorKind}; `send` never rejects.
 *
 * @module
 */
import http from "node:http";
import { performance } from "node:perf_hooks";
import type { ProcessingRequest, ProcessingResponse } from "../../src/extproc/messages";
import type { DriverOptions, DriverRequest, DriverResult, RequestBodyMode } from "./driver-types";
import { Failure, expectReply } from "./exchange";
import type { Exchange } from "./exchange";
import { respond } from "./response-path";
import { SideChannel, applyMutation, headerMap } from "./side-stream";

export type {
  DriverOptions,
  DriverRequest,
  DriverResult,
  ErrorKind,
  RequestBodyMode,
  ResponseBodyMode,
} from "./driver-types";

/** Split `body` into chunks of at most `size` bytes (at least one chunk, possibly empty). */
function chunks(body: Buffer, size: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < body.length; i += size) out.push(body.subarray(i, i + size));
  return out.length ? out : [body];
}

/** Plays Envoy for requests against one kvroute. */
export class EnvoyDriver {
  private readonly channel: SideChannel;
  private readonly agent: http.Agent;
  private readonly o: Required<DriverOptions>;
  private seq = 0;

  constructor(options: DriverOptions) {
    this.o = {
      requestBodyMode: "BUFFERED",
      responseBodyMode: "STREAMED",
      sendProtocolConfig: true,
      allowModeOverride: true,
      messageTimeoutMs: 5000,
      requestTimeoutMs: 600_000,
      bodyChunkBytes: 16 * 1024,
      targetHeader: "target-pod",
      statusOnError: 503,
      authority: "kvroute-e2e",
      maxSockets: 512,
      ...options,
    };
    this.channel = new SideChannel(this.o.extProcAddress);
    this.agent = new http.Agent({ keepAlive: true, maxSockets: this.o.maxSockets });
  }

  /** Run one request end to end. Never rejects: failures are results with an `errorKind`. */
  async send(req: DriverRequest): Promise<DriverResult> {
    const t0 = performance.now();
    const s = this.channel.open();
    const abort = new AbortController();
    const x: Exchange = { o: this.o, s, t0, done: false, responseMode: this.o.responseBodyMode };
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(() => {
        abort.abort();
        reject(new Failure("timeout", 504, `request exceeded ${this.o.requestTimeoutMs} ms`));
      }, this.o.requestTimeoutMs);
    });
    try {
      const run = this.run(x, req, abort.signal);
      // The losing promise must not surface as an unhandled rejection.
      run.catch(() => undefined);
      return await Promise.race([run, timeout]);
    } catch (err: unknown) {
      s.cancel();
      const f = err instanceof Failure ? err : new Failure("internal", undefined, String(err));
      return {
        ok: false,
        errorKind: f.kind,
        ...(f.status === undefined ? {} : { status: f.status }),
        errorMessage: f.message.slice(0, 500),
        ...(f.headers === undefined ? {} : { localReplyHeaders: f.headers }),
        ...(x.pod === undefined ? {} : { pod: x.pod }),
        ...(x.decisionMs === undefined ? {} : { decisionMs: x.decisionMs }),
        e2eMs: performance.now() - t0,
      };
    } finally {
      clearTimeout(timer);
    }
  }

  private async run(x: Exchange, req: DriverRequest, signal: AbortSignal): Promise<DriverResult> {
    const { headers, body } = await this.requestPath(x, req);
    const target = headers.get(this.o.targetHeader)?.[0];
    if (target === undefined) throw new Failure("no_route", 503, "no healthy upstream");
    x.pod = target;
    return respond(x, await this.upstream(target, req.path, headers, body, signal));
  }

  /** The request path; returns the headers and body Envoy forwards upstream. */
  private async requestPath(
    x: Exchange,
    req: DriverRequest,
  ): Promise<{ headers: Map<string, string[]>; body: Buffer }> {
    const o = this.o;
    let body = Buffer.isBuffer(req.body) ? req.body : Buffer.from(req.body, "utf8");
    const requestId = req.requestId ?? `e2e-${++this.seq}`;
    const list: [string, string][] = [
      [":method", "POST"],
      [":scheme", "http"],
      [":authority", o.authority],
      [":path", req.path],
      ["content-type", "application/json"],
      ["content-length", String(body.length)],
      ["x-request-id", requestId],
      ...Object.entries(req.headers ?? {}),
    ];
    const headers = new Map<string, string[]>();
    for (const [k, v] of list) headers.set(k.toLowerCase(), [v]);
    const noWait = o.requestBodyMode === "STREAMED_NO_WAIT";
    let mode: Exclude<RequestBodyMode, "STREAMED_NO_WAIT"> = noWait ? "STREAMED" : o.requestBodyMode;
    const first: ProcessingRequest = {
      request_headers: { headers: headerMap(list), end_of_stream: !body.length },
    };
    if (o.sendProtocolConfig) {
      first.protocol_config = {
        request_body_mode: mode,
        response_body_mode: o.responseBodyMode,
        ...(noWait ? { send_body_without_waiting_for_header_response: true } : {}),
      };
    }
    const decided = (r: ProcessingResponse | undefined, phase: "request_headers" | "request_body"): void => {
      applyMutation(headers, r?.[phase]?.response?.header_mutation);
      if (x.decisionMs === undefined && headers.has(o.targetHeader)) x.decisionMs = performance.now() - x.t0;
    };
    x.s.send(first);
    // FULL_DUPLEX_STREAMED and no-wait STREAMED send the body before the headers reply; the others wait for it.
    const early = noWait || mode === "FULL_DUPLEX_STREAMED";
    if (!early) {
      const hr = await expectReply(x, "request_headers");
      decided(hr, "request_headers");
      const override = o.allowModeOverride ? hr?.mode_override : undefined;
      const asked = override?.request_body_mode;
      if (asked === "BUFFERED" || asked === "STREAMED" || asked === "FULL_DUPLEX_STREAMED") mode = asked;
      const askedResponse = override?.response_body_mode;
      if (askedResponse === "NONE" || askedResponse === "STREAMED" || askedResponse === "BUFFERED")
        x.responseMode = askedResponse;
    }
    if (!body.length) {
      if (early) decided(await expectReply(x, "request_headers"), "request_headers");
      return { headers, body };
    }
    const parts = mode === "BUFFERED" ? [body] : chunks(body, o.bodyChunkBytes);
    if (x.done) return { headers, body };
    parts.forEach((c, i) => x.s.send({ request_body: { body: c, end_of_stream: i === parts.length - 1 } }));
    if (early) decided(await expectReply(x, "request_headers"), "request_headers");
    if (mode === "FULL_DUPLEX_STREAMED") {
      // Replies stream: any number of chunks, the last with end_of_stream. The upstream gets what kvroute returns.
      const out: Buffer[] = [];
      for (;;) {
        const r = await expectReply(x, "request_body");
        if (r === undefined) return { headers, body: Buffer.concat(out) };
        const streamed = r.request_body?.response?.body_mutation?.streamed_response;
        if (streamed?.body) out.push(Buffer.from(streamed.body));
        if (streamed?.end_of_stream) break;
      }
      body = Buffer.concat(out);
    } else {
      const out: Buffer[] = [];
      for (const part of parts) {
        const r = await expectReply(x, "request_body");
        // Header mutations in a body reply count only in BUFFERED: in STREAMED the headers already went upstream.
        if (mode === "BUFFERED") decided(r, "request_body");
        const m = r?.request_body?.response?.body_mutation;
        out.push(m?.body ? Buffer.from(m.body) : m?.clear_body ? Buffer.alloc(0) : part);
      }
      body = Buffer.concat(out);
    }
    headers.set("content-length", [String(body.length)]);
    return { headers, body };
  }

  /** Send the request to `target` (`ip:port`, IPv6 as `[addr]:port`); resolves on the response headers. */
  private upstream(
    target: string,
    path: string,
    headers: Map<string, string[]>,
    body: Buffer,
    signal: AbortSignal,
  ): Promise<http.IncomingMessage> {
    const m = /^\[?([^\]]+?)\]?:(\d+)$/.exec(target);
    if (!m) return Promise.reject(new Failure("no_route", 503, `bad target ${target}`));
    const out: Record<string, string | string[]> = { host: this.o.authority };
    for (const [k, v] of headers) if (!k.startsWith(":")) out[k] = v.length === 1 ? (v[0] ?? "") : v;
    return new Promise((resolve, reject) => {
      const r = http.request(
        { host: m[1], port: Number(m[2]), method: "POST", path, headers: out, agent: this.agent, signal },
        resolve,
      );
      r.on("error", (e) => reject(new Failure("upstream_connect", 503, e.message)));
      r.end(body);
    });
  }

  /** Close the gRPC channel and the upstream sockets. */
  close(): void {
    this.channel.close();
    this.agent.destroy();
  }
}
