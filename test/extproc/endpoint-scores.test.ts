/**
 * `--emit-endpoint-scores`, through a real kvroute over gRPC: with the option a scored decision's `envoy.lb`
 * metadata also carries `x-kvroute-endpoint-scores`, a Struct of `ip:port` → combined score for the pick and the
 * best-scored other candidates (at most five); without it, or when every strategy abstained, the reply is exactly
 * what it was before the option existed. Load is placed with one-pod subset hints and held in flight, so the
 * least-request scores are known.
 */
import type { Metadata, ProcessingResponse, ProtoValue } from "../../src/extproc/messages";
import type { Pod } from "../../src/cluster/pod";
import { loadExtProcDefinition } from "../../src/extproc/proto";
import { decisionReply } from "../../src/extproc/replies";
import type { ExtProcStream, Harness } from "./harness";
import { decide, lbFields, subsetHint } from "./request-phase";
import { pod, responseHeaders, setHeaders, startHarness } from "./harness";

const PODS: Pod[] = [1, 2, 3, 4, 5, 6, 7].map((i) => pod(`p${i}`, `127.0.0.${40 + i}`, ["m1"]));
const [P1, P2, P3, P4] = PODS as [Pod, Pod, Pod, Pod];
const IDLE = PODS.slice(4);
const process = loadExtProcDefinition().processService.Process;

const subset = (target: Pod): Metadata => subsetHint([target.address]);

interface Routed {
  readonly stream: ExtProcStream;
  readonly reply: ProcessingResponse;
  /** The `envoy.lb` namespace's fields. */
  readonly lb: Record<string, ProtoValue>;
}

/** One request through the request phase; its stream left open, so its pick stays in flight. */
async function route(h: Harness, strategy: string, hint?: Metadata): Promise<Routed> {
  const stream = h.client.open();
  const request = { headers: { "routing-strategy": strategy }, prompt: "hello there" };
  const reply = await decide(stream, hint === undefined ? request : { ...request, metadata: hint });
  return { stream, reply, lb: lbFields(reply) };
}

async function finish(stream: ExtProcStream): Promise<void> {
  await stream.exchange(responseHeaders(200, { "content-type": "application/json" }, true));
  stream.end();
  await stream.status;
}

/** P1 holds two requests, P2..P4 one each; P5..P7 are idle. */
async function placeLoad(h: Harness): Promise<ExtProcStream[]> {
  const held: ExtProcStream[] = [];
  for (const target of [P1, P1, P2, P3, P4])
    held.push((await route(h, "least-request", subset(target))).stream);
  return held;
}

function scoresOf(r: Routed): Record<string, number> | undefined {
  const struct = r.lb["x-kvroute-endpoint-scores"]?.structValue;
  if (struct === undefined) return undefined;
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(struct.fields)) out[k] = v.numberValue as number;
  return out;
}

describe("--emit-endpoint-scores", () => {
  let h: Harness;
  afterEach(async () => {
    await h.close();
  });

  it("on: the pick and the four best others, the pick scored highest, every value finite", async () => {
    h = await startHarness(PODS, ["--log-level", "warn", "--emit-endpoint-scores"]);
    const held = await placeLoad(h);
    const r = await route(h, "least-request");
    const picked = setHeaders(r.reply)["target-pod"] as string;
    expect(IDLE.map((p) => p.address)).toContain(picked);
    const scores = scoresOf(r)!;
    expect(scores).toBeDefined();
    const values = Object.values(scores);
    expect(values).toHaveLength(5);
    for (const v of values) expect(Number.isFinite(v)).toBe(true);
    expect(scores[picked]).toBe(Math.max(...values));
    // The three idle pods outscore the loaded ones; of those, the two first in candidate order fill the list.
    expect(Object.keys(scores).sort()).toEqual([...IDLE, P2, P3].map((p) => p.address).sort());
    expect(scores[P1.address]).toBeUndefined();
    for (const p of IDLE) expect(scores[p.address]).toBeGreaterThan(scores[P2.address]!);
    // The endpoint list is unchanged by the option.
    expect(r.lb["x-gateway-destination-endpoint"]?.stringValue?.split(",")[0]).toBe(picked);
    for (const s of [...held, r.stream]) await finish(s);
  });

  it("on, every strategy abstained (no session key): no scores key", async () => {
    h = await startHarness(PODS, ["--log-level", "warn", "--emit-endpoint-scores"]);
    const r = await route(h, "session-affinity");
    expect(Object.keys(r.lb)).toEqual(["x-gateway-destination-endpoint"]);
    await finish(r.stream);
  });

  it("off (the default): the reply's bytes are those of a decision without scores", async () => {
    h = await startHarness(PODS, ["--log-level", "warn"]);
    const held = await placeLoad(h);
    const r = await route(h, "least-request");
    expect(Object.keys(r.lb)).toEqual(["x-gateway-destination-endpoint"]);
    const listed = r.lb["x-gateway-destination-endpoint"]?.stringValue?.split(",") ?? [];
    const byAddress = new Map(PODS.map((p) => [p.address, p]));
    const [pick, ...fallbacks] = listed.map((a) => byAddress.get(a)!);
    const sent = setHeaders(r.reply);
    // The decision's time is the run's own: read back from kvroute's namespace (docs/observability.md).
    const facts = r.reply.dynamic_metadata?.fields["kvroute"]?.structValue?.fields;
    const expected = decisionReply("request_body", {
      pod: pick!,
      fallbacks,
      strategy: sent["routing-strategy"]!,
      requestId: sent["x-request-id"]!,
      decisionMs: facts?.["decision_ms"]?.numberValue ?? NaN,
    });
    expect(process.responseSerialize(r.reply)).toStrictEqual(process.responseSerialize(expected));
    for (const s of [...held, r.stream]) await finish(s);
  });
});
