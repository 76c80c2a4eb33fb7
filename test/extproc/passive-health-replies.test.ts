/**
 * Passive health as the response phase feeds it, through a real kvroute: Envoy's local replies told apart from a
 * pod's own 5xx, what ejects and what does not, what `/debug/state` and `/metrics` show, and the approximate
 * prefix index forgetting a pod that went away (ejected as unreachable, or re-created under the same name).
 */
import type { Pod } from "../../src/cluster/pod";
import {
  CHAT_HEADERS,
  body,
  chatBody,
  headers,
  pod,
  responseBody,
  responseHeaders,
  setHeaders,
  startHarness,
} from "./harness";
import { debugPods } from "./harness-probes";
import type { Harness } from "./harness";

const CONNECT_FAILURE =
  "upstream connect error or disconnect/reset before headers. reset reason: connection failure, " +
  "transport failure reason: delayed connect error: 111";

interface Reply {
  readonly status: number;
  readonly headers?: Record<string, string>;
  /** Undefined: response headers end the stream (no body). */
  readonly body?: string;
}

const ENVOY_CONNECT_FAILURE: Reply = {
  status: 503,
  headers: { "content-type": "text/plain" },
  body: CONNECT_FAILURE,
};
const OK: Reply = { status: 200, headers: { "x-envoy-upstream-service-time": "1" }, body: "{}" };
const POD_500: Reply = {
  status: 500,
  headers: { "content-type": "application/json", "x-envoy-upstream-service-time": "3" },
  body: '{"error":{"message":"engine dead"}}',
};

let n = 0;

/** One `prefix-cache` request (the same prompt each time, so it sticks to one pod), answered with `reply`. */
async function request(h: Harness, reply: Reply): Promise<string | undefined> {
  const s = h.client.open();
  await s.exchange(
    headers({ ...CHAT_HEADERS, "x-request-id": `r-${n++}`, "routing-strategy": "prefix-cache" }),
  );
  const [decision] = await s.exchange(body(chatBody("m1", "the same long prompt ".repeat(20))));
  const target = setHeaders(decision)["target-pod"];
  await s.exchange(responseHeaders(reply.status, reply.headers ?? {}, reply.body === undefined));
  if (reply.body !== undefined) await s.exchange(responseBody(reply.body, true));
  s.end();
  await s.status;
  return target;
}

async function debugPod(h: Harness, name: string): Promise<Record<string, unknown>> {
  const found = (await debugPods<Record<string, unknown>>(h)).find((p) => p["name"] === name);
  if (!found) throw new Error(`no pod ${name} in /debug/state`);
  return found;
}

const PODS: Pod[] = [
  pod("a", "10.0.0.1", ["m1"]),
  pod("b", "10.0.0.2", ["m1"]),
  pod("c", "10.0.0.3", ["m1"]),
];
const nameAt = (address: string | undefined): string => PODS.find((p) => p.address === address)?.name ?? "?";

describe("passive health from the response phase", () => {
  let h: Harness;
  beforeEach(async () => {
    h = await startHarness(PODS, ["--log-level", "warn"]);
  });
  afterEach(async () => {
    await h.close();
  });

  it("ejects a pod after five of Envoy's connect-failure replies, shows it, and forgets its routed prefixes", async () => {
    const first = nameAt(await request(h, OK));
    expect(await debugPod(h, first)).toMatchObject({ health: { state: "healthy" } });
    const before = (await debugPod(h, first))["prefix"] as { approximateBlocks: number };
    expect(before.approximateBlocks).toBeGreaterThan(0);
    const targets: string[] = [];
    for (let i = 0; i < 5; i++) targets.push(nameAt(await request(h, ENVOY_CONNECT_FAILURE)));
    expect(targets).toEqual([first, first, first, first, first]);
    const shown = await debugPod(h, first);
    expect(shown).toMatchObject({
      health: {
        state: "ejected",
        ejections: 1,
        lastEjection: { trigger: "consecutive", cause: "connect-failure" },
      },
      prefix: { approximateBlocks: 0 },
    });
    expect((shown["health"] as { ejectedForMs: number }).ejectedForMs).toBeGreaterThan(0);
    // Ejected: the prompt's remembered pod is no longer a candidate.
    for (let i = 0; i < 5; i++) expect(nameAt(await request(h, OK))).not.toBe(first);
    const metrics = await (await fetch(`http://127.0.0.1:${h.server.httpPort}/metrics`)).text();
    expect(metrics).toContain(
      'kvroute_outlier_ejections_total{trigger="consecutive",cause="connect-failure"} 1',
    );
    expect(metrics).toContain(`kvroute_outlier_ejected_pods{pod="${first}",state="ejected"} 1`);
  });

  it("ejects on the pod's own 5xx, but keeps its routed prefixes (it is up, only failing)", async () => {
    // A success first: the index takes back what a failed request added, so only a success makes the prompt stick.
    const first = nameAt(await request(h, OK));
    for (let i = 0; i < 5; i++) expect(nameAt(await request(h, POD_500))).toBe(first);
    expect(await debugPod(h, first)).toMatchObject({
      health: { state: "ejected", lastEjection: { trigger: "consecutive", cause: "server-error" } },
    });
    const prefix = (await debugPod(h, first))["prefix"] as { approximateBlocks: number };
    expect(prefix.approximateBlocks).toBeGreaterThan(0);
  });

  it.each<[string, Reply]>([
    [
      "an overflow reply",
      {
        status: 503,
        headers: { "x-envoy-overloaded": "true" },
        body: CONNECT_FAILURE.replace("connection failure", "overflow"),
      },
    ],
    [
      "no healthy upstream",
      { status: 503, headers: { "content-type": "text/plain" }, body: "no healthy upstream" },
    ],
    ["a 429 from the pod", { status: 429, headers: { "x-envoy-upstream-service-time": "1" }, body: "{}" }],
  ])("does not count %s against the pod", async (_, reply) => {
    // A success first makes the prompt stick to one pod (failed requests are not learned).
    const targets = new Set<string>([nameAt(await request(h, OK))]);
    for (let i = 0; i < 8; i++) targets.add(nameAt(await request(h, reply)));
    expect(targets.size).toBe(1);
    const [only] = [...targets] as [string];
    // Neutral outcomes and a 429 leave the pod healthy, with no failure counted.
    const health = (await debugPod(h, only))["health"] ?? { state: "healthy", consecutiveFailures: 0 };
    expect(health).toMatchObject({ state: "healthy", consecutiveFailures: 0 });
  });

  it("counts a 503 local reply without a body (response body mode NONE) as a connect failure", async () => {
    const first = nameAt(await request(h, { status: 503 }));
    expect(await debugPod(h, first)).toMatchObject({ health: { state: "healthy", consecutiveFailures: 1 } });
  });

  it("forgets a pod's routed prefixes when it is re-created under the same name (new UID)", async () => {
    const first = nameAt(await request(h, OK));
    expect(
      ((await debugPod(h, first))["prefix"] as { approximateBlocks: number }).approximateBlocks,
    ).toBeGreaterThan(0);
    h.cluster.replace(PODS.map((p) => (p.name === first ? { ...p, uid: "re-created" } : p)));
    expect(((await debugPod(h, first))["prefix"] as { approximateBlocks: number }).approximateBlocks).toBe(0);
  });
});
