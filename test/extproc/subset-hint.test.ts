/**
 * The Gateway API Inference Extension's endpoint subset hint, through a real kvroute over gRPC: Envoy's
 * `metadata_context.filter_metadata["envoy.lb.subset_hint"]` narrows the candidates of every strategy; a hint that
 * cannot be honoured (empty, malformed, no ready pod of the model in it) is a 503 with the OpenAI envelope, the
 * `x-error-subset-hint` reason header and `kvroute_subset_hint_total{outcome}`. Also: the system-owned request
 * headers a client could spoof are removed by the headers reply.
 */
import type { Metadata, ProcessingRequest, ProcessingResponse, ProtoValue } from "../../src/extproc/messages";
import { createStrategyRegistry } from "../../src/routing";
import { registerBuiltins } from "../../src/routing/strategies";
import type { ExtProcStream, Harness } from "./harness";
import { metricValue } from "./harness-probes";
import { subsetHintOf as hintOf } from "./request-phase";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  pod,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";

const PODS = [
  pod("p1", "127.0.0.11", ["m1"]),
  pod("p2", "127.0.0.12", ["m1"]),
  pod("p3", "127.0.0.13", ["m1"]),
];
const CHOSEN = "127.0.0.12:8000";

const STRATEGIES: readonly string[] = (() => {
  const registry = createStrategyRegistry();
  registerBuiltins(registry);
  return registry.types();
})();

const SYSTEM_OWNED = [
  "x-gateway-destination-endpoint-subset",
  "x-gateway-destination-endpoint-served",
  "x-gateway-inference-objective",
  "x-gateway-inference-fairness-id",
  "x-gateway-model-name-rewrite",
];

function listOf(addresses: readonly string[]): ProtoValue {
  return { listValue: { values: addresses.map((a) => ({ stringValue: a })) } };
}

/** The request-headers message, with the hint when given. */
function headersWith(extra: Record<string, string>, hint?: Metadata): ProcessingRequest {
  const msg = headers({ ...CHAT_HEADERS, ...extra });
  return hint === undefined ? msg : { ...msg, metadata_context: hint };
}

async function counter(h: Harness, outcome: string): Promise<number> {
  return metricValue(h, "kvroute_subset_hint_total", { outcome });
}

/** Run the request phase; the decision's target, with the stream left open (its pick still in flight). */
async function route(
  h: Harness,
  hint: Metadata | undefined,
  extra: Record<string, string> = {},
): Promise<{ stream: ExtProcStream; target: string | undefined; headersReply: ProcessingResponse }> {
  const stream = h.client.open();
  const [headersReply] = await stream.exchange(headersWith(extra, hint));
  const [decision] = await stream.exchange(body(chatBody("m1", "hello there")));
  return { stream, target: setHeaders(decision)["target-pod"], headersReply: headersReply! };
}

/**
 * End a routed request as Envoy does when the upstream answers without a body: its pick is released before the
 * reply comes back, so the next decision sees no load left by this one.
 */
async function finish(stream: ExtProcStream): Promise<void> {
  await stream.exchange(responseHeaders(200, { "content-type": "application/json" }, true));
  stream.end();
  await stream.status;
}

/** A request whose hint is refused at request headers: the one reply. */
async function refusedAtHeaders(h: Harness, hint: Metadata): Promise<ProcessingResponse> {
  const stream = h.client.open();
  const [reply] = await stream.exchange(headersWith({}, hint));
  await stream.status;
  return reply!;
}

/** Status, reason header and envelope of an immediate response. */
function refusal(r: ProcessingResponse | undefined): { status: number; reason?: string; error: unknown } {
  const ir = r?.immediate_response;
  const set: Record<string, string> = {};
  for (const o of ir?.headers?.set_headers ?? [])
    set[o.header.key] = Buffer.from(o.header.raw_value).toString();
  const out: { status: number; reason?: string; error: unknown } = {
    status: ir?.status.code ?? 0,
    error: ir?.body ? (JSON.parse(Buffer.from(ir.body).toString()) as { error: unknown }).error : undefined,
  };
  const reason = set["x-error-subset-hint"];
  if (reason !== undefined) out.reason = reason;
  return out;
}

describe("endpoint subset hint", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, ["--log-level", "warn"]);
  });
  afterAll(async () => {
    await h.close();
  });

  it("lists every built-in strategy", () => {
    expect(STRATEGIES.length).toBeGreaterThanOrEqual(19);
  });

  it.each(STRATEGIES)("%s: a subset naming one pod routes every request there", async (strategy) => {
    const before = await counter(h, "honoured");
    const open: ExtProcStream[] = [];
    // Three requests held in flight: load-aware strategies would spread them over the three pods without the hint.
    for (let i = 0; i < 3; i++) {
      const r = await route(h, hintOf(listOf([CHOSEN])), { "routing-strategy": strategy });
      expect(r.target).toBe(CHOSEN);
      open.push(r.stream);
    }
    for (const s of open) await finish(s);
    expect(await counter(h, "honoured")).toBe(before + 3);
  });

  it("no hint: least-request spreads requests in flight over all three pods, and nothing is counted", async () => {
    const counted = await Promise.all(["honoured", "no-eligible-pod"].map((o) => counter(h, o)));
    const open: ExtProcStream[] = [];
    const targets = new Set<string | undefined>();
    for (let i = 0; i < 3; i++) {
      const r = await route(h, undefined, { "routing-strategy": "least-request" });
      targets.add(r.target);
      open.push(r.stream);
    }
    for (const s of open) await finish(s);
    expect([...targets].sort()).toEqual(PODS.map((p) => p.address).sort());
    expect(await Promise.all(["honoured", "no-eligible-pod"].map((o) => counter(h, o)))).toEqual(counted);
  });

  it("a subset with two pods keeps least-request within it", async () => {
    const allowed = ["127.0.0.11:8000", "127.0.0.13:8000"];
    const open: ExtProcStream[] = [];
    const targets: (string | undefined)[] = [];
    for (let i = 0; i < 4; i++) {
      const r = await route(h, hintOf(listOf(allowed)), { "routing-strategy": "least-request" });
      targets.push(r.target);
      open.push(r.stream);
    }
    for (const s of open) await finish(s);
    expect(new Set(targets)).toEqual(new Set(allowed));
  });

  it("an empty subset is a 503 at request headers, with the envelope, reason header and counter", async () => {
    const before = await counter(h, "empty");
    const reply = await refusedAtHeaders(h, hintOf({ listValue: {} }));
    expect(refusal(reply)).toEqual({
      status: 503,
      reason: "empty",
      error: {
        message: "the endpoint subset is empty",
        type: "overloaded_error",
        code: "service_unavailable",
        param: null,
      },
    });
    expect(await counter(h, "empty")).toBe(before + 1);
  });

  it("a subset of unknown addresses is a 503 after the body: no ready pod of the model is in it", async () => {
    const before = await counter(h, "no-eligible-pod");
    const stream = h.client.open();
    await stream.exchange(headersWith({}, hintOf(listOf(["127.0.0.99:8000", "127.0.0.11:9999"]))));
    const [reply] = await stream.exchange(body(chatBody("m1")));
    expect(refusal(reply)).toEqual({
      status: 503,
      reason: "no-eligible-pod",
      error: {
        message: "no ready pod for the model is in the endpoint subset",
        type: "overloaded_error",
        code: "service_unavailable",
        param: null,
      },
    });
    expect(await counter(h, "no-eligible-pod")).toBe(before + 1);
  });

  it.each<[string, ProtoValue]>([
    ["a string instead of a list", { stringValue: CHOSEN }],
    ["a non-string entry", { listValue: { values: [{ stringValue: CHOSEN }, { numberValue: 3 }] } }],
    ["an empty entry", { listValue: { values: [{ stringValue: "" }] } }],
    ["an over-long entry", listOf([`${"1".repeat(60)}:8000`])],
    [
      "more than 1024 entries",
      listOf(Array.from({ length: 1025 }, (_, i) => `127.0.${i >> 8}.${i & 255}:8000`)),
    ],
  ])("a malformed hint (%s) is refused with 503 like an empty one", async (_what, value) => {
    const before = await counter(h, "malformed");
    const reply = await refusedAtHeaders(h, hintOf(value));
    expect(refusal(reply)).toMatchObject({ status: 503, reason: "malformed" });
    expect(await counter(h, "malformed")).toBe(before + 1);
  });

  it("1024 entries are read, and the one ready pod among them is picked", async () => {
    const many = Array.from({ length: 1023 }, (_, i) => `127.1.${i >> 8}.${i & 255}:8000`);
    const r = await route(h, hintOf(listOf([...many, CHOSEN])), { "routing-strategy": "random" });
    expect(r.target).toBe(CHOSEN);
    await finish(r.stream);
  });

  it("metadata in another namespace or under another key is no hint", async () => {
    const other: Metadata = {
      filter_metadata: {
        "envoy.lb": { fields: { "x-gateway-destination-endpoint-subset": listOf([]) } },
        "envoy.lb.subset_hint": { fields: { "some-other-key": listOf([]) } },
      },
    };
    const r = await route(h, other);
    expect(PODS.map((p) => p.address)).toContain(r.target);
    await finish(r.stream);
  });

  it("a subset pod that is not ready is not picked", async () => {
    h.cluster.replace([...PODS.slice(0, 1), { ...PODS[1]!, ready: false }, PODS[2]!]);
    try {
      const stream = h.client.open();
      await stream.exchange(headersWith({}, hintOf(listOf([CHOSEN]))));
      const [reply] = await stream.exchange(body(chatBody("m1")));
      expect(refusal(reply)).toMatchObject({ status: 503, reason: "no-eligible-pod" });
    } finally {
      h.cluster.replace(PODS);
    }
  });
});

describe("system-owned request headers", () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness(PODS, ["--log-level", "warn"]);
  });
  afterAll(async () => {
    await h.close();
  });

  const spoofed = Object.fromEntries(SYSTEM_OWNED.map((k) => [k, "127.0.0.13:8000"]));

  it("the request-headers CONTINUE removes them with the routing headers", async () => {
    const r = await route(h, undefined, spoofed);
    const removed = r.headersReply.request_headers?.response?.header_mutation?.remove_headers ?? [];
    expect(removed).toEqual(
      expect.arrayContaining([...SYSTEM_OWNED, "target-pod", "x-gateway-destination-endpoint"]),
    );
    await finish(r.stream);
  });

  it("in FULL_DUPLEX_STREAMED the decision is the headers reply and removes them", async () => {
    const stream = h.client.open();
    stream.send({ protocol_config: { request_body_mode: "FULL_DUPLEX_STREAMED" }, ...headersWith(spoofed) });
    const replies = await stream.exchange(body(chatBody("m1")), 2);
    const mutation = replies[0]?.request_headers?.response?.header_mutation;
    expect(mutation?.remove_headers).toEqual(expect.arrayContaining(SYSTEM_OWNED));
    expect(setHeaders(replies[0])["target-pod"]).toBeDefined();
    await finish(stream);
  });

  it("a client header cannot stand in for the subset hint", async () => {
    const open: ExtProcStream[] = [];
    const targets = new Set<string | undefined>();
    for (let i = 0; i < 3; i++) {
      const r = await route(h, undefined, {
        "x-gateway-destination-endpoint-subset": CHOSEN,
        "routing-strategy": "least-request",
      });
      targets.add(r.target);
      open.push(r.stream);
    }
    for (const s of open) await finish(s);
    expect(targets.size).toBe(3);
  });
});
