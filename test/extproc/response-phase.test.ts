/**
 * The response half's phases, driven directly: the request is reported exactly once whichever message or close ends
 * it, and what comes after the end is answered (or refused as out of order) without a second report.
 */
import type { RequestRecord } from "../../src/extproc/response-phase";
import { createResponseTracker } from "../../src/extproc/response-phase";
import { ProtocolError } from "../../src/extproc/protocol-error";
import { responseBody, responseHeaders } from "./harness";

function tracker(responseMode: "NONE" | "STREAMED" = "STREAMED") {
  const records: RequestRecord[] = [];
  let t = 0;
  const tr = createResponseTracker({
    requestId: "r1",
    startedMs: 0,
    decidedMs: undefined,
    request: undefined,
    pick: undefined,
    responseMode,
    maxResponseBufferBytes: 1024,
    now: () => (t += 1),
    onFinished: (r) => records.push(r),
  });
  return { tr, records };
}

describe("response phases", () => {
  it("streaming body → done at end_of_stream: one report with the status and the first byte", () => {
    const { tr, records } = tracker();
    tr.handle(responseHeaders(200), "response_headers");
    tr.handle(responseBody("ab", false), "response_body");
    expect(records).toEqual([]);
    tr.handle(responseBody("", true), "response_body");
    tr.close("client-ended");
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({ status: 200, outcome: "success", firstByteMs: 1 });
    expect(() => tr.handle(responseBody("late", false), "response_body")).toThrow(ProtocolError);
    expect(tr.handle({ response_trailers: {} }, "response_trailers")).toHaveLength(1);
    expect(records).toHaveLength(1);
  });

  it.each([
    [
      "client-ended before headers",
      undefined,
      "client-ended",
      { outcome: "cancelled", status: undefined, closeReason: "client-ended" },
    ],
    ["reset mid-body", 502, "reset", { outcome: "reset", status: 502, closeReason: "reset" }],
    ["shutdown mid-body", 200, "shutdown", { outcome: "shutdown", status: 200, closeReason: "shutdown" }],
  ] as const)("a close ends it: %s", (_name, status, why, expected) => {
    const { tr, records } = tracker();
    if (status !== undefined) tr.handle(responseHeaders(status), "response_headers");
    tr.close(why);
    tr.close("error");
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject(expected);
  });

  it("without response bodies, a half-close after the headers is the normal end", () => {
    const { tr, records } = tracker("NONE");
    tr.handle(responseHeaders(200), "response_headers");
    tr.close("client-ended");
    expect(records.map((r) => r.outcome)).toEqual(["success"]);
  });

  it("finished by kvroute before the response: later headers are answered, never reported twice", () => {
    const { tr, records } = tracker();
    tr.finish({ kind: "error", status: 500 });
    expect(tr.handle(responseHeaders(200), "response_headers")).toHaveLength(1);
    expect(() => tr.handle(responseHeaders(200), "response_headers")).toThrow(ProtocolError);
    tr.handle(responseBody("x", true), "response_body");
    expect(() => tr.handle(responseBody("y", true), "response_body")).toThrow(ProtocolError);
    expect(records.map((r) => [r.outcome, r.status])).toEqual([["error", 500]]);
  });

  it("a body before any headers is out of order", () => {
    const { tr, records } = tracker();
    expect(() => tr.handle(responseBody("x", false), "response_body")).toThrow(ProtocolError);
    expect(records).toEqual([]);
  });
});
