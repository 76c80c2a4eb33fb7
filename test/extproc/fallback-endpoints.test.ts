/**
 * Fallback endpoints (Gateway API Inference Extension endpoint-picker protocol), through a real kvroute over gRPC:
 * the `envoy.lb` metadata `x-gateway-destination-endpoint` lists the pick, then up to three other ready pods of the
 * model best first, so the gateway can retry without a new decision; the routing headers stay the pick alone.
 * Load is placed with one-pod subset hints and held in flight, so least-load order is deterministic.
 */
import type { Metadata, ProcessingResponse } from "../../src/extproc/messages";
import type { Pod } from "../../src/cluster/pod";
import type { ExtProcStream, Harness } from "./harness";
import { decide, lbFields, subsetHint } from "./request-phase";
import { pod, responseBody, responseHeaders, setHeaders, startHarness } from "./harness";

const P1 = pod("p1", "127.0.0.21", ["m1"]);
const P2 = pod("p2", "127.0.0.22", ["m1"]);
const P3 = pod("p3", "127.0.0.23", ["m1"]);
const UNREADY = pod("p4", "127.0.0.24", ["m1"], false);
const OTHER_MODEL = pod("p5", "127.0.0.25", ["m2"]);
const PODS: Pod[] = [P1, P2, P3, UNREADY, OTHER_MODEL];

const CONNECT_FAILURE =
  "upstream connect error or disconnect/reset before headers. reset reason: connection failure, " +
  "transport failure reason: delayed connect error: 111";

const subset = (...pods: readonly Pod[]): Metadata => subsetHint(pods.map((p) => p.address));

interface Routed {
  readonly stream: ExtProcStream;
  /** The `envoy.lb` metadata value, split at commas. */
  readonly listed: string[];
  readonly reply: ProcessingResponse;
}

/** One request through the request phase; its stream left open, so its pick stays in flight. */
async function route(h: Harness, strategy: string, hint?: Metadata): Promise<Routed> {
  const stream = h.client.open();
  const request = { headers: { "routing-strategy": strategy }, prompt: "hello there" };
  const reply = await decide(stream, hint === undefined ? request : { ...request, metadata: hint });
  const lb = lbFields(reply)["x-gateway-destination-endpoint"];
  return { stream, listed: lb?.stringValue?.split(",") ?? [], reply };
}

/** End a routed request with `status` (and an Envoy-written body for a local reply): its pick is released. */
async function finish(stream: ExtProcStream, status = 200, localReply?: string): Promise<void> {
  const hdrs =
    localReply === undefined ? { "content-type": "application/json" } : { "content-type": "text/plain" };
  await stream.exchange(responseHeaders(status, hdrs, localReply === undefined));
  if (localReply !== undefined) await stream.exchange(responseBody(localReply, true));
  stream.end();
  await stream.status;
}

/** Hold `n` requests in flight on `target` (placed there by a one-pod subset). */
async function hold(h: Harness, target: Pod, n: number): Promise<ExtProcStream[]> {
  const out: ExtProcStream[] = [];
  for (let i = 0; i < n; i++) {
    const r = await route(h, "least-request", subset(target));
    expect(r.listed).toEqual([target.address]);
    out.push(r.stream);
  }
  return out;
}

/** Every `x-gateway-destination-endpoint` the decision sets: exactly one, the pick, with no list in it. */
function destinationHeaders(r: ProcessingResponse): string[] {
  const set = r.request_body?.response?.header_mutation?.set_headers ?? [];
  return set
    .filter((o) => o.header.key === "x-gateway-destination-endpoint")
    .map((o) => Buffer.from(o.header.raw_value).toString());
}

describe("fallback endpoints in the endpoint-picker answer", () => {
  let h: Harness;
  beforeEach(async () => {
    // A clock that stands still: an ejection lasts for the whole test.
    h = await startHarness(PODS, ["--log-level", "warn"], {}, { healthNow: () => 1_000_000 });
  });
  afterEach(async () => {
    await h.close();
  });

  it.each(["least-request", "session-affinity"])(
    "%s: the pick, then the other two ready pods by least load; headers stay the pick",
    async (strategy) => {
      // P1 busiest, P2 less, P3 idle: scored (least-request) and abstaining (no session key) decisions agree.
      const held = [...(await hold(h, P1, 2)), ...(await hold(h, P2, 1))];
      const r = await route(h, strategy);
      expect(r.listed).toEqual([P3.address, P2.address, P1.address]);
      expect(destinationHeaders(r.reply)).toEqual([P3.address]);
      expect(setHeaders(r.reply)["target-pod"]).toBe(P3.address);
      for (const s of [...held, r.stream]) await finish(s);
    },
  );

  it("the order follows the load: the busiest pod comes last", async () => {
    const held = [...(await hold(h, P3, 2)), ...(await hold(h, P1, 1))];
    const r = await route(h, "least-request");
    expect(r.listed).toEqual([P2.address, P1.address, P3.address]);
    for (const s of [...held, r.stream]) await finish(s);
  });

  it("an unready pod and a pod of another model never appear, whatever the load", async () => {
    const seen = new Set<string>();
    for (let i = 0; i < 6; i++) {
      const r = await route(h, "random");
      expect(new Set(r.listed).size).toBe(r.listed.length);
      expect(r.listed).toHaveLength(3);
      for (const a of r.listed) seen.add(a);
      await finish(r.stream);
    }
    expect([...seen].sort()).toEqual([P1.address, P2.address, P3.address]);
  });

  it("an ejected pod is neither picked nor offered as a fallback", async () => {
    // Five of Envoy's connect-failure replies in a row eject P2.
    for (let i = 0; i < 5; i++) {
      const r = await route(h, "least-request", subset(P2));
      await finish(r.stream, 503, CONNECT_FAILURE);
    }
    for (let i = 0; i < 4; i++) {
      const r = await route(h, "random");
      expect(r.listed).toHaveLength(2);
      expect(r.listed).not.toContain(P2.address);
      expect([...r.listed].sort()).toEqual([P1.address, P3.address]);
      await finish(r.stream);
    }
  });

  it("a one-pod subset gives no fallbacks; a two-pod subset offers only its other pod", async () => {
    const one = await route(h, "least-request", subset(P3));
    expect(one.listed).toEqual([P3.address]);
    await finish(one.stream);
    const two = await route(h, "least-request", subset(P1, P3));
    expect([...two.listed].sort()).toEqual([P1.address, P3.address]);
    expect(two.listed).toHaveLength(2);
    await finish(two.stream);
  });
});

describe("fallback endpoints with a single pod", () => {
  it("lists just the pick", async () => {
    const h = await startHarness([P1], ["--log-level", "warn"]);
    try {
      const r = await route(h, "least-request");
      expect(r.listed).toEqual([P1.address]);
      expect(destinationHeaders(r.reply)).toEqual([P1.address]);
      await finish(r.stream);
    } finally {
      await h.close();
    }
  });
});
