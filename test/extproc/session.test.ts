/**
 * The stream state machine driven directly, without gRPC: which replies each message gets in each state, and that
 * the single cleanup releases the pick exactly once.
 */
import type { ProcessingRequest } from "../../src/extproc/messages";
import { ProtocolError } from "../../src/extproc/protocol-error";
import type { RequestRecord } from "../../src/extproc/response-phase";
import type { Session } from "../../src/extproc/session";
import { makeFleet, MODEL } from "../routing/pods";
import type { Fleet } from "../routing/pods";
import { fleetDirector } from "../support/director-fixture";
import { sessionFactory, tickingClock } from "../support/session-fixture";
import { CHAT_HEADERS, body, chatBody, headers, responseBody, responseHeaders } from "./harness";

function setup(): { fleet: Fleet; session: () => Session; finished: RequestRecord[] } {
  const fleet = makeFleet(3);
  const finished: RequestRecord[] = [];
  return {
    fleet,
    finished,
    session: sessionFactory({
      router: fleetDirector(fleet),
      hooks: { onFinished: (r) => finished.push(r) },
      now: tickingClock(),
    }),
  };
}

/** These sessions never tokenize, so every answer is immediate. */
function now<T>(r: T | Promise<T>): T {
  if (r instanceof Promise) throw new Error("expected an immediate answer");
  return r;
}

const replyKinds = (replies: object[] | Promise<object[]>): string[] =>
  now(replies).map((r) =>
    Object.keys(r)
      .filter((k) => k !== "dynamic_metadata")
      .join("+"),
  );

describe("session state machine", () => {
  it("a routed conversation, then close: released once, reported once", () => {
    const { fleet, session, finished } = setup();
    const s = session();
    expect(replyKinds(s.handle(headers(CHAT_HEADERS)))).toEqual(["request_headers"]);
    expect(replyKinds(s.handle(body(chatBody(MODEL))))).toEqual(["request_body"]);
    expect(fleet.load.totalRequests()).toBe(1);
    expect(replyKinds(s.handle(responseHeaders(200)))).toEqual(["response_headers"]);
    expect(replyKinds(s.handle(responseBody("{}", true)))).toEqual(["response_body"]);
    expect(fleet.load.totalRequests()).toBe(0);
    // Trailers after completion still get their reply; closing again changes nothing.
    expect(replyKinds(s.handle({ response_trailers: {} }))).toEqual(["response_trailers"]);
    s.close("client-ended");
    s.close("cancelled");
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ outcome: "success", status: 200, model: MODEL });
  });

  it("reads header values from `value` when `raw_value` is absent (older Envoy)", () => {
    const { session } = setup();
    const s = session();
    const msg: ProcessingRequest = {
      request_headers: { headers: { headers: [{ key: ":path", value: "/v1/unknown" }] } },
    };
    expect(now(s.handle(msg))[0]?.immediate_response?.status.code).toBe(501);
  });

  it.each<[string, ProcessingRequest[], ProcessingRequest, string]>([
    ["body before headers", [], body("{}"), "unexpected-request-body"],
    ["trailers before headers", [], { request_trailers: {} }, "unexpected-request-trailers"],
    ["response body before anything", [], responseBody("x", true), "unexpected-response-body"],
    ["second request headers", [headers(CHAT_HEADERS)], headers(CHAT_HEADERS), "duplicate-request-headers"],
    ["an empty message", [], {}, "empty-message"],
    [
      "body after the decision",
      [headers(CHAT_HEADERS), body(chatBody(MODEL))],
      body("x"),
      "unexpected-request-body",
    ],
    [
      "response body after its end",
      [headers(CHAT_HEADERS), body(chatBody(MODEL)), responseHeaders(200), responseBody("{}", true)],
      responseBody("x", true),
      "response-body-after-end",
    ],
  ])("%s is a protocol error", (_name, before, msg, reason) => {
    const { session } = setup();
    const s = session();
    for (const m of before) s.handle(m);
    let caught: unknown;
    try {
      s.handle(msg);
    } catch (e) {
      caught = e;
    }
    expect(caught).toBeInstanceOf(ProtocolError);
    expect((caught as ProtocolError).reason).toBe(reason);
  });

  it("after an immediate response every further message is ignored", () => {
    const { session, fleet } = setup();
    const s = session();
    s.handle(headers(CHAT_HEADERS));
    expect(now(s.handle(body("{broken")))[0]?.immediate_response?.status.code).toBe(400);
    expect(s.ended).toBe(true);
    expect(s.handle(body("{}"))).toEqual([]);
    expect(s.handle(responseHeaders(200))).toEqual([]);
    expect(fleet.load.totalRequests()).toBe(0);
  });

  it("a stream that ends before the decision reserves nothing and is reported once, as cancelled", () => {
    const { session, fleet, finished } = setup();
    const s = session();
    s.handle(headers(CHAT_HEADERS));
    s.close("cancelled");
    s.close("error");
    expect(fleet.load.totalRequests()).toBe(0);
    expect(finished).toHaveLength(1);
    expect(finished[0]).toMatchObject({ outcome: "cancelled", closeReason: "cancelled", status: undefined });
  });

  it("a stream that ends before its headers reports nothing", () => {
    const { session, finished } = setup();
    session().close("cancelled");
    expect(finished).toEqual([]);
  });
});
