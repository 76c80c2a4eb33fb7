/** Telling Envoy's local replies from a pod's response, and what each says about the pod's health. */
import { responseHead, responseSource } from "../../src/extproc/envoy-local-reply";
import type { ResponseSource } from "../../src/routing/framework";
import { healthVerdictOf } from "../../src/routing/health-verdict";
import type { Outcome } from "../../src/routing/framework";
import type { RequestVerdict } from "../../src/cluster/health";

const TIMED = { "x-envoy-upstream-service-time": "12" };
const CONNECT =
  "upstream connect error or disconnect/reset before headers. reset reason: connection failure, transport failure " +
  "reason: delayed connect error: 111";

describe("responseSource", () => {
  it.each<[string, number, Record<string, string>, string | undefined, ResponseSource]>([
    ["a pod's 200", 200, TIMED, "{}", "pod"],
    ["a 200 without Envoy's header (suppressed)", 200, {}, "{}", "pod"],
    ["a pod's 503 (with the service-time header)", 503, TIMED, CONNECT, "pod"],
    ["Envoy's connect failure", 503, {}, CONNECT, "envoy-connect-failure"],
    [
      "Envoy's reset before headers",
      503,
      {},
      "upstream connect error or disconnect/reset before headers. reset reason: connection termination",
      "envoy-connect-failure",
    ],
    [
      "Envoy's retried reset (newer wording)",
      503,
      {},
      "upstream connect error or disconnect/reset before headers. retried and the latest reset reason: remote connection failure",
      "envoy-connect-failure",
    ],
    ["Envoy's overflow", 503, {}, CONNECT.replace("connection failure", "overflow"), "envoy-other"],
    ["Envoy's overflow marked by header", 503, { "x-envoy-overloaded": "true" }, "anything", "envoy-other"],
    ["Envoy's timeout", 504, {}, "upstream request timeout", "envoy-timeout"],
    ["no healthy upstream", 503, {}, "no healthy upstream", "envoy-other"],
    ["a 503 without a body (body mode NONE)", 503, {}, undefined, "envoy-connect-failure"],
    ["a 504 without a body", 504, {}, "", "envoy-timeout"],
    ["a 500 without a body or header", 500, {}, undefined, "pod"],
    ["a 5xx JSON body without Envoy's header (suppressed headers)", 502, {}, '{"error":"bad"}', "pod"],
  ])("%s → %s", (_, status, headers, bodyHead, expected) => {
    expect(responseSource(responseHead(status, new Map(Object.entries(headers))), bodyHead)).toBe(expected);
  });
});

describe("healthVerdictOf", () => {
  it.each<[string, Outcome, RequestVerdict]>([
    ["success", { kind: "success", status: 200, source: "pod" }, "success"],
    ["a 4xx from the pod", { kind: "upstream-error", status: 404, source: "pod" }, "success"],
    ["a 5xx from the pod", { kind: "upstream-error", status: 502, source: "pod" }, "server-error"],
    [
      "Envoy's connect failure",
      { kind: "upstream-error", status: 503, source: "envoy-connect-failure" },
      "connect-failure",
    ],
    ["Envoy's timeout", { kind: "upstream-error", status: 504, source: "envoy-timeout" }, "timeout"],
    ["another local reply", { kind: "upstream-error", status: 503, source: "envoy-other" }, "neutral"],
    ["cancelled before headers", { kind: "cancelled", status: 0 }, "neutral"],
    ["cancelled mid-body", { kind: "cancelled", status: 200, source: "pod" }, "success"],
    ["kvroute shutting down", { kind: "shutdown" }, "neutral"],
  ])("%s", (_, outcome, expected) => {
    expect(healthVerdictOf(outcome)).toBe(expected);
  });
});
