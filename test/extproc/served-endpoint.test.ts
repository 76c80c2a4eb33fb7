/**
 * The gateway's served-endpoint report (endpoint-picker protocol, "Destination Endpoint Served"), through a real
 * kvroute over gRPC: `metadata_context.filter_metadata["envoy.lb"]["x-gateway-destination-endpoint-served"]` on a
 * response message. When another pod of the model served (the gateway retried a fallback endpoint), the in-flight
 * slot, the approximate prefix record, the response headers and the finished record all follow it; an unknown or
 * malformed report moves nothing. Every report is counted by outcome.
 */
import type { Pod } from "../../src/cluster/pod";
import type { Metadata, ProcessingRequest, ProcessingResponse } from "../../src/extproc/messages";
import type { ExtProcStream, Harness } from "./harness";
import { decide, lbFields } from "./request-phase";
import { debugPods, finishedLine, metricValue } from "./harness-probes";
import { pod, responseBody, responseHeaders, setHeaders, startHarness } from "./harness";

const P1 = pod("p1", "127.0.0.31", ["m1"]);
const P2 = pod("p2", "127.0.0.32", ["m1"]);
const P3 = pod("p3", "127.0.0.33", ["m1"]);
const OTHER_MODEL = pod("p4", "127.0.0.34", ["m2"]);
const PODS: readonly Pod[] = [P1, P2, P3, OTHER_MODEL];
const byAddress = (address: string | undefined): Pod => {
  const found = PODS.find((p) => p.address === address);
  if (!found) throw new Error(`no pod at ${address}`);
  return found;
};

/** The report as Envoy forwards it (`value` as a protobuf Value). */
function report(value: { stringValue?: string; numberValue?: number }): Metadata {
  return {
    filter_metadata: {
      "envoy.lb": { fields: { "x-gateway-destination-endpoint-served": value } },
    },
  };
}
const servedBy = (p: Pod | string): Metadata =>
  report({ stringValue: typeof p === "string" ? p : p.address });

const withMetadata = (msg: ProcessingRequest, m: Metadata | undefined): ProcessingRequest =>
  m === undefined ? msg : { ...msg, metadata_context: m };

let n = 0;

interface Routed {
  readonly stream: ExtProcStream;
  readonly requestId: string;
  readonly pick: Pod;
  /** The fallback endpoints after the pick, best first. */
  readonly fallbacks: Pod[];
}

/** One request through the request phase; the stream stays open, so the pick stays in flight. */
async function route(h: Harness, strategy: string, prompt = "hello there"): Promise<Routed> {
  const requestId = `served-${n++}`;
  const stream = h.client.open();
  const reply = await decide(stream, {
    headers: { "x-request-id": requestId, "routing-strategy": strategy },
    prompt,
  });
  const listed = lbFields(reply)["x-gateway-destination-endpoint"]?.stringValue?.split(",") ?? [];
  const pick = byAddress(setHeaders(reply)["target-pod"]);
  return { stream, requestId, pick, fallbacks: listed.slice(1).map(byAddress) };
}

/** The response headers (with `metadata`), left open for a body. */
async function respond(r: Routed, metadata: Metadata | undefined, status = 200): Promise<ProcessingResponse> {
  const [reply] = await r.stream.exchange(
    withMetadata(responseHeaders(status, { "content-type": "application/json" }), metadata),
  );
  return reply!;
}

/** The last body chunk (with `metadata`), then the stream's end; resolves with the request's finished log line. */
async function finish(h: Harness, r: Routed, metadata?: Metadata): Promise<Record<string, unknown>> {
  await r.stream.exchange(withMetadata(responseBody("{}", true), metadata));
  r.stream.end();
  await r.stream.status;
  return finishedLine(h, { requestId: r.requestId });
}

async function counted(h: Harness, outcome: string): Promise<number> {
  return metricValue(h, "kvroute_served_endpoint_total", { outcome });
}

const inFlight = (h: Harness, p: Pod): number => h.server.load.get(p.key).requests;

async function approximateBlocks(h: Harness, p: Pod): Promise<number> {
  const pods = await debugPods<{ name: string; prefix?: { approximateBlocks: number } }>(h);
  return pods.find((x) => x.name === p.name)?.prefix?.approximateBlocks ?? 0;
}

describe("served endpoint reported by the gateway", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(PODS);
  });
  afterEach(async () => {
    await h.close();
  });

  it("the pick served: counted same, the slot stays and is released once at the end", async () => {
    const r = await route(h, "least-request");
    const reply = await respond(r, servedBy(r.pick));
    expect(setHeaders(reply)["target-pod"]).toBe(r.pick.name);
    expect(inFlight(h, r.pick)).toBe(1);
    const line = await finish(h, r);
    expect(line["pod"]).toBe(r.pick.name);
    expect(line["movedFrom"]).toBeUndefined();
    expect(await counted(h, "same")).toBe(1);
    expect(await counted(h, "moved")).toBe(0);
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it("a fallback served: the in-flight slot moves to it, headers and the record name it, counted moved", async () => {
    const r = await route(h, "least-request");
    const fb = r.fallbacks[0]!;
    expect(fb).not.toBe(r.pick);
    const reply = await respond(r, servedBy(fb));
    expect(setHeaders(reply)["target-pod"]).toBe(fb.name);
    expect(setHeaders(reply)["target-pod-ip"]).toBe(fb.address);
    expect(inFlight(h, fb)).toBe(1);
    expect(inFlight(h, r.pick)).toBe(0);
    expect(h.server.load.totalRequests()).toBe(1);
    const line = await finish(h, r);
    expect(line).toMatchObject({ pod: fb.name, address: fb.address, movedFrom: r.pick.name });
    expect(await counted(h, "moved")).toBe(1);
    expect(h.server.load.totalRequests()).toBe(0);
    expect(inFlight(h, fb)).toBe(0);
  });

  it("a fallback served under prefix-cache: the prompt's prefix is recorded on it, and the next request goes there", async () => {
    const prompt = "a long shared system prompt for the served endpoint test ".repeat(12);
    const r = await route(h, "prefix-cache", prompt);
    const fb = r.fallbacks[0]!;
    await respond(r, servedBy(fb));
    await finish(h, r);
    expect(await approximateBlocks(h, fb)).toBeGreaterThan(0);
    expect(await approximateBlocks(h, r.pick)).toBe(0);
    // All idle again: the prefix decides, and only the pod that served holds it.
    const next = await route(h, "prefix-cache", prompt);
    expect(next.pick).toBe(fb);
    await respond(next, servedBy(fb));
    await finish(h, next);
    expect(await counted(h, "moved")).toBe(1);
    expect(await counted(h, "same")).toBe(1);
  });

  it.each([
    ["an address of no pod", "127.0.0.99:8000"],
    ["a pod of another model", OTHER_MODEL.address],
  ])("%s: counted unknown, the pick keeps the slot", async (_label, address) => {
    const r = await route(h, "least-request");
    const reply = await respond(r, servedBy(address));
    expect(setHeaders(reply)["target-pod"]).toBe(r.pick.name);
    expect(inFlight(h, r.pick)).toBe(1);
    expect(h.server.load.totalRequests()).toBe(1);
    expect((await finish(h, r))["pod"]).toBe(r.pick.name);
    expect(await counted(h, "unknown")).toBe(1);
    expect(h.server.load.totalRequests()).toBe(0);
  });

  it.each([
    ["not an address", report({ stringValue: "served-by-someone" })],
    ["a port out of range", report({ stringValue: "127.0.0.32:70000" })],
    ["a number", report({ numberValue: 3 })],
  ])("%s: counted malformed, nothing moves", async (_label, metadata) => {
    const r = await route(h, "least-request");
    await respond(r, metadata);
    expect(inFlight(h, r.pick)).toBe(1);
    expect((await finish(h, r))["pod"]).toBe(r.pick.name);
    expect(await counted(h, "malformed")).toBe(1);
    expect(await counted(h, "moved")).toBe(0);
  });

  it("no report on any response message: counted absent once", async () => {
    const r = await route(h, "least-request");
    await respond(r, undefined);
    await finish(h, r);
    expect(await counted(h, "absent")).toBe(1);
    expect(await counted(h, "same")).toBe(0);
  });

  it("a report first carried by a later message moves the slot then; the first report wins", async () => {
    const r = await route(h, "least-request");
    const [fb, other] = [r.fallbacks[0]!, r.fallbacks[1]!];
    const reply = await respond(r, undefined);
    // The headers went out before the report: they name the pick.
    expect(setHeaders(reply)["target-pod"]).toBe(r.pick.name);
    await r.stream.exchange(withMetadata(responseBody("{", false), servedBy(fb)));
    expect(inFlight(h, fb)).toBe(1);
    expect(inFlight(h, r.pick)).toBe(0);
    const line = await finish(h, r, servedBy(other));
    expect(line["pod"]).toBe(fb.name);
    expect(inFlight(h, other)).toBe(0);
    expect(await counted(h, "moved")).toBe(1);
    expect(await counted(h, "absent")).toBe(0);
  });

  it("a stream reset after a move releases the moved slot exactly once", async () => {
    const r = await route(h, "least-request");
    const fb = r.fallbacks[0]!;
    await respond(r, servedBy(fb));
    expect(inFlight(h, fb)).toBe(1);
    r.stream.cancel();
    const line = await finishedLine(h, { requestId: r.requestId });
    expect(line).toMatchObject({ pod: fb.name, outcome: "cancelled" });
    expect(h.server.load.totalRequests()).toBe(0);
    for (const p of [P1, P2, P3]) expect(h.server.load.get(p.key)).toEqual({ requests: 0, tokens: 0 });
    // Another request afterwards sees every pod idle: nothing leaked, nothing negative.
    const again = await route(h, "least-request");
    expect(h.server.load.totalRequests()).toBe(1);
    await respond(again, servedBy(again.pick));
    await finish(h, again);
    expect(h.server.load.totalRequests()).toBe(0);
  });
});
