/**
 * The scraper's HTTP/1.1 response reader, fed bytes in memory (protocol logic): every framing, split at every
 * byte boundary, and the errors that must map to `http-error` (an `HPE_` code), `too-large` or a cut-off.
 */
import type { FeedResult } from "../../../src/cluster/metrics/http-response";
import { MAX_HEAD_BYTES, ResponseReader } from "../../../src/cluster/metrics/http-response";

/**
 * Feed `parts` in order, each through one reused buffer that is scribbled over after every feed (as the client's
 * shared socket read buffer is); the first result that is not `more` (or `more` if none).
 */
function read(parts: readonly (string | Buffer)[], o: { max?: number; close?: boolean } = {}): FeedResult {
  const r = new ResponseReader(o.max ?? 1 << 20);
  const scratch = Buffer.alloc(64 * 1024);
  for (const p of parts) {
    const bytes = typeof p === "string" ? Buffer.from(p, "latin1") : p;
    bytes.copy(scratch);
    const fed = r.feed(scratch.subarray(0, bytes.length));
    // A body may be a view of the fed bytes: valid until they are reused, so taken before the scribble.
    const out = fed.t === "done" ? { ...fed, body: Buffer.from(fed.body) } : fed;
    scratch.fill(0x23);
    if (out.t !== "more") return out;
  }
  return o.close ? r.end() : { t: "more" };
}

/** `text` cut into two at every position. */
function splits(text: string): string[][] {
  return Array.from({ length: text.length - 1 }, (_, i) => [text.slice(0, i + 1), text.slice(i + 1)]);
}

const body = (r: FeedResult): string | undefined => (r.t === "done" ? r.body.toString("utf8") : undefined);

describe("ResponseReader", () => {
  const plain = "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 11\r\n\r\nvllm:x 1\r\n\n";
  const chunked =
    "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n5\r\nvllm:\r\nA;ext=1\r\nx 1\n\nab 1\n\r\n0\r\nTrailer: t\r\n\r\n";

  it("reads a content-length body at every split, reusable", () => {
    for (const parts of [[plain], ...splits(plain)]) {
      const r = read(parts);
      expect(r).toMatchObject({ t: "done", status: 200, reusable: true });
      expect(body(r)).toBe("vllm:x 1\r\n\n");
    }
  });

  it("reads a chunked body (extensions, trailers) at every split", () => {
    for (const parts of [[chunked], ...splits(chunked)]) {
      const r = read(parts);
      expect(body(r)).toBe("vllm:x 1\n\nab 1\n");
      expect(r).toMatchObject({ reusable: true });
    }
  });

  it("skips an interim 100 Continue", () => {
    const r = read([`HTTP/1.1 100 Continue\r\n\r\n${plain}`]);
    expect(body(r)).toBe("vllm:x 1\r\n\n");
  });

  it.each([
    ["Connection: close", "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 1\r\n\r\na", false],
    ["HTTP/1.0", "HTTP/1.0 200 OK\r\nContent-Length: 1\r\n\r\na", false],
    ["HTTP/1.0 keep-alive", "HTTP/1.0 200 OK\r\nConnection: Keep-Alive\r\nContent-Length: 1\r\n\r\na", true],
    ["header names in any case", "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 1\r\n\r\na", true],
  ])("knows when the connection may be reused: %s", (_t, text, reusable) => {
    expect(read([text])).toMatchObject({ t: "done", reusable });
  });

  it("reads a body framed by the close", () => {
    const r = read(["HTTP/1.1 200 OK\r\n\r\nab", "c"], { close: true });
    expect(r).toMatchObject({ t: "done", reusable: false });
    expect(body(r)).toBe("abc");
  });

  it("drops the body of a non-2xx answer but reads it for framing", () => {
    const r = read(["HTTP/1.1 503 Service Unavailable\r\nContent-Length: 4\r\n\r\nbusy"]);
    expect(r).toMatchObject({ t: "done", status: 503, reusable: true });
    expect(body(r)).toBe("");
  });

  it("reads a 204 as an empty answer", () => {
    expect(read(["HTTP/1.1 204 No Content\r\n\r\n"])).toMatchObject({ t: "done", status: 204 });
  });

  it.each([
    ["an SSH banner", "SSH-2.0-OpenSSH_9.6\r\n\r\n", "HPE_INVALID_CONSTANT"],
    ["HTTP/2 preface", "HTTP/2 200\r\n\r\n", "HPE_INVALID_CONSTANT"],
    ["a bad status", "HTTP/1.1 2x0 OK\r\n\r\n", "HPE_INVALID_STATUS"],
    ["a header without a colon", "HTTP/1.1 200 OK\r\nnonsense\r\n\r\n", "HPE_INVALID_HEADER_TOKEN"],
    ["a bad content-length", "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\n", "HPE_INVALID_CONTENT_LENGTH"],
    [
      "two content-lengths that differ",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
      "HPE_INVALID_CONTENT_LENGTH",
    ],
    [
      "chunked and a content-length",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Length: 2\r\n\r\n",
      "HPE_UNEXPECTED_CONTENT_LENGTH",
    ],
    [
      "a bad chunk size",
      "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
      "HPE_INVALID_CHUNK_SIZE",
    ],
    [
      "more bytes than announced",
      "HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\nab",
      "HPE_DATA_AFTER_RESPONSE",
    ],
  ])("refuses %s", (_t, text, code) => {
    expect(read([text])).toEqual({ t: "error", code });
  });

  it("bounds the head", () => {
    const r = read(["HTTP/1.1 200 OK\r\n", `X-Big: ${"a".repeat(MAX_HEAD_BYTES)}\r\n`]);
    expect(r).toEqual({ t: "error", code: "HPE_HEADER_OVERFLOW" });
  });

  it("refuses a body over the limit, announced or received", () => {
    expect(read(["HTTP/1.1 200 OK\r\nContent-Length: 11\r\n\r\n"], { max: 10 })).toEqual({
      t: "too-large",
      bytes: 11,
    });
    const streamed = read(
      ["HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n8\r\n12345678\r\n", "8\r\n123"],
      {
        max: 10,
      },
    );
    expect(streamed).toMatchObject({ t: "too-large" });
  });

  it("calls a close before the end of the body a cut-off", () => {
    expect(read(["HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc"], { close: true })).toEqual({
      t: "error",
      code: "ECONNRESET",
    });
    expect(read(["HTTP/1.1 200 O"], { close: true })).toEqual({ t: "error", code: "ECONNRESET" });
  });
});
