/**
 * The Gateway API Inference Extension conformance scenarios that concern the endpoint picker, run against a real
 * kvroute over gRPC in conformance test mode, each named after the upstream test (`conformance/tests/*.go`). The
 * fleet is shaped as the suite deploys it: InferencePool members without a model label (any model), echo servers
 * on port 3000, completions-shaped bodies posted to the suite's own route paths. What the suite checks on the
 * gateway (the response came from the named pod) is checked here on kvroute's answer: the endpoint it sends
 * Envoy to and the served endpoint it echoes.
 *
 * Also: with the mode off the test header changes nothing, and the mode's edge cases (no entry matches, the named
 * pods not ready, a malformed header).
 */
import { ANY_MODEL } from "../../src/cluster/cluster-state";
import { expandRanks, rankPorts } from "../../src/cluster/data-parallel";
import type { Pod } from "../../src/cluster/pod";
import type { Metadata, ProcessingResponse } from "../../src/extproc/messages";
import type { ExtProcStream, Harness } from "./harness";
import { metricValue } from "./harness-probes";
import { body, headers, pod, responseBody, responseHeaders, setHeaders, startHarness } from "./harness";

const A = pod("primary-0", "127.0.0.41", [ANY_MODEL], true, 3000);
const B = pod("primary-1", "127.0.0.42", [ANY_MODEL], true, 3000);
const C = pod("primary-2", "127.0.0.43", [ANY_MODEL], true, 3000);
const PRIMARY: readonly Pod[] = [A, B, C];

/** What the suite sends (`conformance-fake-model`, a prompt) to a path of its own HTTPRoute. */
const SUITE_BODY = JSON.stringify({
  model: "conformance-fake-model",
  prompt: "Write as if you were a critic: San Francisco",
});
const SELECTION = "test-epp-endpoint-selection";
const ECHO = "x-conformance-test-served-endpoint";

let n = 0;

interface Routed {
  readonly stream: ExtProcStream;
  /** The request-phase reply: the decision, or an immediate response. */
  readonly reply: ProcessingResponse;
  /** Where kvroute sent the request (`x-gateway-destination-endpoint`), if it routed it. */
  readonly endpoint: string | undefined;
}

/** One suite request, its stream left open (the pick stays in flight). */
async function send(h: Harness, selection?: string, path = "/primary-gateway-test"): Promise<Routed> {
  const stream = h.client.open();
  const hdrs: Record<string, string> = {
    ":method": "POST",
    ":path": path,
    "content-type": "application/json",
    "x-request-id": `conf-${n++}`,
  };
  if (selection !== undefined) hdrs[SELECTION] = selection;
  const [first] = await stream.exchange(headers(hdrs));
  if (first?.immediate_response) return { stream, reply: first, endpoint: undefined };
  const [reply] = await stream.exchange(body(SUITE_BODY));
  return { stream, reply: reply!, endpoint: setHeaders(reply)["x-gateway-destination-endpoint"] };
}

/** The gateway's served report for `address` and the request's end; returns the response-headers reply. */
async function serve(r: Routed, address: string): Promise<ProcessingResponse> {
  const metadata: Metadata = {
    filter_metadata: {
      "envoy.lb": { fields: { "x-gateway-destination-endpoint-served": { stringValue: address } } },
    },
  };
  const [reply] = await r.stream.exchange({ ...responseHeaders(200), metadata_context: metadata });
  await r.stream.exchange(responseBody('{"path":"/primary-gateway-test"}', true));
  r.stream.end();
  await r.stream.status;
  return reply!;
}

/** Send `count` requests with `selection`, all held in flight (so least-request spreads them), then end them. */
async function spread(
  h: Harness,
  selection: string | undefined,
  count: number,
  path?: string,
): Promise<string[]> {
  const held: Routed[] = [];
  for (let i = 0; i < count; i++) held.push(await send(h, selection, path));
  for (const r of held) await serve(r, r.endpoint!);
  return held.map((r) => r.endpoint!);
}

async function selections(h: Harness, outcome: string): Promise<number> {
  return metricValue(h, "kvroute_conformance_test_selection_total", { outcome });
}

const status = (r: ProcessingResponse): number | undefined => r.immediate_response?.status.code;

describe("conformance test mode", () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  describe("upstream scenarios", () => {
    beforeEach(async () => {
      h = await startHarness(PRIMARY, ["--conformance-test-mode", "--routing-algorithm", "least-request"]);
    });

    it("warns at start that a client may narrow the choice", async () => {
      const line = await h.log.waitFor((l) => String(l["msg"]).startsWith("conformance test mode is on"));
      expect(line["level"]).toBe("warn");
    });

    describe("GatewayFollowingEPPRouting", () => {
      it("routes every request to a single designated pod", async () => {
        for (const p of PRIMARY) expect(new Set(await spread(h, p.ip, 6))).toEqual(new Set([p.address]));
      });

      it("routes traffic only to two designated pods, both used", async () => {
        const seen = await spread(h, `${A.ip},${B.ip}`, 6);
        expect(new Set(seen)).toEqual(new Set([A.address, B.address]));
      });

      it("routes traffic to all available pods when all are designated", async () => {
        const seen = await spread(h, `${A.ip}, ${B.ip} ,${C.ip}`, 6);
        expect(new Set(seen)).toEqual(new Set([A.address, B.address, C.address]));
        expect(await selections(h, "narrowed")).toBe(6);
      });

      it("offers only designated pods as fallback endpoints", async () => {
        const r = await send(h, `${A.ip},${C.ip}`);
        const lb = r.reply.dynamic_metadata;
        const listed =
          lb?.fields["envoy.lb"]?.structValue?.fields["x-gateway-destination-endpoint"]?.stringValue?.split(
            ",",
          );
        expect(new Set(listed)).toEqual(new Set([A.address, C.address]));
        await serve(r, r.endpoint!);
      });
    });

    describe("GatewayDestinationEndpointServed", () => {
      it("echoes the served endpoint of the selected backend pod (ip:3000)", async () => {
        for (const p of PRIMARY) {
          const r = await send(h, p.ip);
          expect(r.endpoint).toBe(p.address);
          const reply = await serve(r, `${p.ip}:3000`);
          expect(setHeaders(reply)[ECHO]).toBe(`${p.ip}:3000`);
          expect(setHeaders(reply)["target-pod-ip"]).toBe(`${p.ip}:3000`);
        }
      });

      it("echoes what the gateway reports, also when it retried another pod", async () => {
        const r = await send(h, `${A.ip},${B.ip}`);
        const other = r.endpoint === A.address ? B : A;
        const reply = await serve(r, other.address);
        expect(setHeaders(reply)[ECHO]).toBe(other.address);
        expect(setHeaders(reply)["target-pod"]).toBe(other.name);
      });
    });
  });

  describe("GatewayFollowingEPPRoutingWithDataParallelism", () => {
    // One IP per pod, three ranks each (ports 3000, 3002, 3004), expanded as discovery expands the DP pool's
    // targetPorts.
    const ranks = (name: string, ip: string): Pod[] =>
      expandRanks(pod(name, ip, [ANY_MODEL], true, 3000), rankPorts(3000, 1, [3000, 3002, 3004]));
    const [D0, D1, D2] = [
      ranks("dp-0", "127.0.0.51"),
      ranks("dp-1", "127.0.0.52"),
      ranks("dp-2", "127.0.0.53"),
    ];
    beforeEach(async () => {
      h = await startHarness(
        [...D0, ...D1, ...D2],
        ["--conformance-test-mode", "--routing-algorithm", "least-request"],
      );
    });

    it("expands each pod into three rank endpoints", () => {
      expect(D1.map((p) => p.address)).toEqual(["127.0.0.52:3000", "127.0.0.52:3002", "127.0.0.52:3004"]);
    });

    it("routes only to one designated pod, any rank", async () => {
      const seen = await spread(h, "127.0.0.52", 6);
      expect(new Set(seen)).toEqual(new Set(D1.map((p) => p.address)));
    });

    it("routes only to two designated pods, one with a fixed rank", async () => {
      const seen = await spread(h, "127.0.0.51,127.0.0.53:3002", 8);
      expect(new Set(seen)).toEqual(new Set([...D0.map((p) => p.address), "127.0.0.53:3002"]));
    });

    it("routes to all pods, one restricted to ranks 3000 and 3004", async () => {
      const seen = await spread(h, "127.0.0.51,127.0.0.52:3000,127.0.0.52:3004,127.0.0.53", 16);
      const allowed = [...D0, ...D2].map((p) => p.address).concat(["127.0.0.52:3000", "127.0.0.52:3004"]);
      expect(new Set(seen)).toEqual(new Set(allowed));
    });
  });

  describe("edge cases of the mode", () => {
    it("a selection naming no pod of the model is ignored (counted unmatched)", async () => {
      h = await startHarness(PRIMARY, ["--conformance-test-mode", "--routing-algorithm", "least-request"]);
      const seen = await spread(h, "127.0.0.99", 3);
      expect(new Set(seen)).toEqual(new Set(PRIMARY.map((p) => p.address)));
      expect(await selections(h, "unmatched")).toBe(3);
    });

    it("designated pods that are not ready: 503, never another pod", async () => {
      const down = pod("primary-3", "127.0.0.44", [ANY_MODEL], false, 3000);
      h = await startHarness([...PRIMARY, down], ["--conformance-test-mode"]);
      const r = await send(h, down.ip);
      expect(status(r.reply)).toBe(503);
      expect(r.endpoint).toBeUndefined();
    });

    it("a malformed selection is refused with 400 (counted)", async () => {
      h = await startHarness(PRIMARY, ["--conformance-test-mode"]);
      const r = await send(h, `${A.ip},${"9".repeat(80)}`);
      expect(status(r.reply)).toBe(400);
      expect(await selections(h, "malformed")).toBe(1);
    });

    it("the test header is never forwarded upstream", async () => {
      h = await startHarness(PRIMARY, ["--conformance-test-mode"]);
      const stream = h.client.open();
      const [reply] = await stream.exchange(
        headers({ ":method": "POST", ":path": "/v1/completions", [SELECTION]: A.ip }),
      );
      expect(reply?.request_headers?.response?.header_mutation?.remove_headers).toContain(SELECTION);
      stream.cancel();
    });
  });

  describe("off (the default)", () => {
    beforeEach(async () => {
      h = await startHarness(PRIMARY, ["--routing-algorithm", "least-request"]);
    });

    it("ignores the test header (counted once per request) and removes it", async () => {
      const seen = await spread(h, A.ip, 3, "/v1/completions");
      expect(new Set(seen)).toEqual(new Set(PRIMARY.map((p) => p.address)));
      expect(await selections(h, "ignored")).toBe(3);
      expect(await selections(h, "narrowed")).toBe(0);
      const stream = h.client.open();
      const [reply] = await stream.exchange(
        headers({ ":method": "POST", ":path": "/v1/completions", [SELECTION]: A.ip }),
      );
      expect(reply?.request_headers?.response?.header_mutation?.remove_headers).toContain(SELECTION);
      stream.cancel();
      expect(h.log.lines.some((l) => String(l["msg"]).startsWith("conformance test mode"))).toBe(false);
    });

    it("refuses a path kvroute does not serve, as always", async () => {
      const r = await send(h, undefined, "/primary-gateway-test");
      expect(status(r.reply)).toBe(501);
    });

    it("does not echo the served endpoint", async () => {
      const stream = h.client.open();
      await stream.exchange(headers({ ":method": "POST", ":path": "/v1/completions" }));
      const [decision] = await stream.exchange(body(SUITE_BODY));
      const reply = await serve({ stream, reply: decision!, endpoint: undefined }, A.address);
      expect(setHeaders(reply)[ECHO]).toBeUndefined();
      expect(setHeaders(reply)["target-pod"]).toBe(A.name);
    });
  });
});
