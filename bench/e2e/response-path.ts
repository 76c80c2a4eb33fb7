/**
 * The driver's response path: the upstream response goes through kvroute's response phases as Envoy sends them
 * (headers, body per `response_body_mode`, `end_of_stream`, half-close), and what the client would see is timed
 * and read for usage.
 *
 * @module
 */
import type http from "node:http";
import { performance } from "node:perf_hooks";
import type { DriverResult } from "./driver-types";
import { Failure, expectReply } from "./exchange";
import type { Exchange } from "./exchange";
import { headerMap } from "./side-stream";
import { ResponseReader } from "./sse";

/** How long to wait for kvroute's status after Envoy's half-close. */
const FINISH_MS = 1000;
const ERROR_TEXT_CHARS = 500;

/** The upstream body's chunks; a broken stream becomes an `upstream_reset` failure. */
async function* upstreamChunks(res: http.IncomingMessage, status: number): AsyncGenerator<Buffer> {
  try {
    for await (const chunk of res) yield chunk as Buffer;
  } catch (err: unknown) {
    throw new Failure("upstream_reset", status, err instanceof Error ? err.message : String(err));
  }
}

/**
 * Run the response phases for `res` and build the request's result.
 *
 * @throws Failure on a response-phase immediate response, a failed side stream or a broken upstream body.
 */
export async function respond(x: Exchange, res: http.IncomingMessage): Promise<DriverResult> {
  const status = res.statusCode ?? 0;
  const list: [string, string][] = [[":status", String(status)]];
  for (let i = 0; i + 1 < res.rawHeaders.length; i += 2)
    list.push([res.rawHeaders[i] ?? "", res.rawHeaders[i + 1] ?? ""]);
  if (!x.done) x.s.send({ response_headers: { headers: headerMap(list), end_of_stream: false } });
  const hr = await expectReply(x, "response_headers");
  // mode_override is honoured in a response_headers reply too, but never with no-wait STREAMED.
  const asked =
    x.o.allowModeOverride && x.o.requestBodyMode !== "STREAMED_NO_WAIT" ? hr?.mode_override : undefined;
  const mode = asked?.response_body_mode;
  if (mode === "NONE" || mode === "STREAMED" || mode === "BUFFERED") x.responseMode = mode;

  const reader = new ResponseReader(String(res.headers["content-type"] ?? "").includes("text/event-stream"));
  let ttftMs: number | undefined;
  let lastChunkMs: number | undefined;
  let maxGapMs: number | undefined;
  let errorText = "";
  const visible = (b: Buffer): void => {
    const at = performance.now() - x.t0;
    if (reader.push(b) && ttftMs === undefined) ttftMs = at;
    else if (lastChunkMs !== undefined) maxGapMs = Math.max(maxGapMs ?? 0, at - lastChunkMs);
    if (ttftMs !== undefined) lastChunkMs = at;
    if (status >= 300 && errorText.length < ERROR_TEXT_CHARS) errorText += b.toString("utf8");
  };
  await body(x, upstreamChunks(res, status), visible);
  reader.end();
  const e2eMs = performance.now() - x.t0;
  // A non-streaming body shows its content all at once, at the end.
  if (ttftMs === undefined && reader.firstToken) ttftMs = e2eMs;
  await x.s.finish(FINISH_MS);

  const u = reader.usage;
  const failed =
    status < 200 || status >= 300 ? "upstream_status" : reader.error ? "stream_error" : undefined;
  return {
    ok: failed === undefined,
    ...(failed === undefined ? {} : { errorKind: failed }),
    status,
    ...(failed === undefined ? {} : { errorMessage: (reader.error ?? errorText).slice(0, ERROR_TEXT_CHARS) }),
    ...(x.pod === undefined ? {} : { pod: x.pod }),
    ...(x.decisionMs === undefined ? {} : { decisionMs: x.decisionMs }),
    ...(ttftMs === undefined ? {} : { ttftMs }),
    ...(maxGapMs === undefined ? {} : { maxInterChunkMs: maxGapMs }),
    e2eMs,
    ...(u?.promptTokens === undefined ? {} : { promptTokens: u.promptTokens }),
    ...(u?.completionTokens === undefined ? {} : { outputTokens: u.completionTokens }),
    ...(u?.cachedTokens === undefined ? {} : { cachedTokens: u.cachedTokens }),
  };
}

/** Feed the upstream body through the response-body phase of `x.responseMode`, passing what the client sees. */
async function body(
  x: Exchange,
  chunks: AsyncGenerator<Buffer>,
  visible: (b: Buffer) => void,
): Promise<void> {
  const send = (b: Buffer, eos: boolean): void =>
    x.s.send({ response_body: { body: b, end_of_stream: eos } });
  switch (x.responseMode) {
    case "NONE":
      for await (const c of chunks) visible(c);
      return;
    case "STREAMED": {
      // Envoy holds each chunk until its reply (which may replace it), then forwards it downstream.
      for await (const c of chunks) {
        if (x.done) {
          visible(c);
          continue;
        }
        send(c, false);
        visible(mutated(await expectReply(x, "response_body"), c));
      }
      // The upstream's end arrives apart from its last data frame: an empty end_of_stream message.
      if (!x.done) {
        send(Buffer.alloc(0), true);
        visible(mutated(await expectReply(x, "response_body"), Buffer.alloc(0)));
      }
      return;
    }
    case "BUFFERED": {
      const parts: Buffer[] = [];
      for await (const c of chunks) parts.push(c);
      const all = Buffer.concat(parts);
      if (x.done) return visible(all);
      send(all, true);
      return visible(mutated(await expectReply(x, "response_body"), all));
    }
    case "FULL_DUPLEX_STREAMED":
      return fullDuplex(x, chunks, visible, send);
  }
}

/** The body a STREAMED/BUFFERED body reply leaves: replaced, cleared, or `original`. */
function mutated(r: Awaited<ReturnType<typeof expectReply>>, original: Buffer): Buffer {
  const m = r?.response_body?.response?.body_mutation;
  if (m?.body) return Buffer.from(m.body);
  return m?.clear_body ? Buffer.alloc(0) : original;
}

/**
 * FULL_DUPLEX_STREAMED: upstream chunks go to kvroute as they arrive while its `streamed_response` chunks are what
 * the client sees, until one carries `end_of_stream`. Replies are awaited with the request timeout, not
 * `message_timeout`: between upstream chunks (decode time) no reply is due.
 */
async function fullDuplex(
  x: Exchange,
  chunks: AsyncGenerator<Buffer>,
  visible: (b: Buffer) => void,
  send: (b: Buffer, eos: boolean) => void,
): Promise<void> {
  const reading = (async (): Promise<void> => {
    for (;;) {
      const r = await expectReply(x, "response_body", x.o.requestTimeoutMs);
      if (r === undefined) return;
      const streamed = r.response_body?.response?.body_mutation?.streamed_response;
      if (streamed?.body?.length) visible(Buffer.from(streamed.body));
      if (streamed?.end_of_stream) return;
    }
  })();
  // If the writer fails first, the reader's rejection is reported through the writer's error instead.
  reading.catch(() => undefined);
  try {
    for await (const c of chunks) {
      // Once kvroute has closed the stream, Envoy forwards the rest unprocessed.
      if (x.done) visible(c);
      else send(c, false);
    }
    send(Buffer.alloc(0), true);
  } catch (err: unknown) {
    x.s.cancel();
    throw err;
  }
  await reading;
}
