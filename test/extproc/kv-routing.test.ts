/**
 * End to end through ext_proc: a real ZeroMQ publisher speaking vLLM's KV-event protocol for pod B; a request
 * whose prompt B reported caching goes to B; removing or clearing those blocks takes the prefix out of the decision.
 * Then speculation: a prompt just routed to a publishing pod counts as cached there until its TTL, with no event.
 */
import { encode } from "@msgpack/msgpack";
import { createServer as createNetServer } from "node:net";
import type { AddressInfo } from "node:net";
import { FakeVllmPublisher } from "../kvevents/fake-vllm-publisher";
import { body, headers, pod, setHeaders, startHarness } from "./harness";
import { debugPods, finishedLine } from "./harness-probes";
import type { Harness } from "./harness";

const TOKENS = Array.from({ length: 64 }, (_, i) => 1000 + i); // 4 blocks of 16
const HASHES = [11n, 12n, 13n, 14n].map((h) => h + (1n << 62n));
// A second prompt for the last test: the first one has by then also been routed to pod A (which kvroute's own
// approximate index rightly remembers), so it would no longer single out pod B.
const TOKENS2 = Array.from({ length: 64 }, (_, i) => 5000 + i);
const HASHES2 = [21n, 22n, 23n, 24n].map((h) => h + (1n << 62n));

function batch(events: Record<string, unknown>[]): Uint8Array {
  return encode([Date.now() / 1000, events, 0], { useBigInt64: true });
}
const storedOf = (tokens: number[], hashes: bigint[]): Uint8Array =>
  batch([
    {
      type: "BlockStored",
      block_hashes: hashes,
      parent_block_hash: null,
      token_ids: tokens,
      block_size: 16,
      lora_id: null,
      medium: "GPU",
      lora_name: null,
      extra_keys: [null, null, null, null],
      group_idx: 0,
    },
  ]);
const stored = storedOf(TOKENS, HASHES);
const removed = batch([{ type: "BlockRemoved", block_hashes: HASHES, medium: "GPU", group_idx: 0 }]);
const cleared = batch([{ type: "AllBlocksCleared" }]);

async function freePort(): Promise<number> {
  const srv = createNetServer();
  await new Promise<void>((r) => srv.listen(0, "127.0.0.1", r));
  const port = (srv.address() as AddressInfo).port;
  await new Promise<void>((r) => srv.close(() => r()));
  return port;
}

interface PodState {
  name: string;
  prefix: {
    eventBlocks: number;
    speculativeBlocks: number;
    kvEvents: { lastSeq: string | null; publishing: boolean } | null;
  };
}

interface Routed {
  target: string;
  line: Record<string, unknown>;
}

async function podStates(h: Harness): Promise<PodState[]> {
  return debugPods<PodState>(h);
}

/** One `prefix-cache` request through ext_proc: where it went and its "request finished" log line. */
async function routeOnce(h: Harness, prompt: number[]): Promise<Routed> {
  const s = h.client.open();
  await s.exchange(
    headers({
      ":method": "POST",
      ":path": "/v1/completions",
      "routing-strategy": "prefix-cache",
      "x-request-id": `r${Math.random().toString(36).slice(2)}`,
    }),
  );
  const [r] = await s.exchange(body(JSON.stringify({ model: "m1", prompt })));
  const target = setHeaders(r)["target-pod"] ?? "";
  const id = setHeaders(r)["x-request-id"];
  s.cancel();
  const line = await finishedLine(h, { requestId: id });
  return { target, line };
}

describe("KV-event routing end to end", () => {
  let publisher: FakeVllmPublisher;
  let h: Harness;
  const A = pod("pod-a", "127.0.0.1", ["m1"], true, 18001);
  const B = {
    ...pod("pod-b", "127.0.0.1", ["m1"], true, 18002),
    labels: { "model.aibrix.ai/name": "m1", "model.aibrix.ai/kv-events-enabled": "true" },
  };

  async function podB(): Promise<PodState> {
    const b = (await podStates(h)).find((p) => p.name === "pod-b");
    if (!b) throw new Error("pod-b missing");
    return b;
  }

  /** Wait for kvroute to have applied what was published (bounded; ZeroMQ gives no cross-process event). */
  async function until(cond: (b: PodState) => boolean, what: string): Promise<void> {
    for (let i = 0; i < 250; i++) {
      if (cond(await podB())) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting for ${what}`);
  }

  const route = (prompt = TOKENS): Promise<Routed> => routeOnce(h, prompt);

  beforeAll(async () => {
    const [pubPort, replayPort] = [await freePort(), await freePort()];
    publisher = await FakeVllmPublisher.start({ pubPort, replayPort });
    h = await startHarness(
      [A, B],
      ["--kv-events-port", String(pubPort), "--kv-events-replay-port", String(replayPort)],
    );
    // ZeroMQ slow joiner: publish harmless batches until kvroute has applied one.
    for (let i = 0; i < 250 && (await podB()).prefix.kvEvents?.lastSeq == null; i++) {
      await publisher.publish(cleared);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  afterAll(async () => {
    await h.close();
    await publisher.close();
  });

  it("routes a prompt to the pod that reported caching it", async () => {
    await publisher.publish(stored);
    await until((b) => b.prefix.eventBlocks === 4, "4 blocks indexed for pod-b");
    for (let i = 0; i < 4; i++) {
      const { target, line } = await route();
      expect(target).toBe(B.address);
      expect(line["fallbackReason"]).toBeUndefined();
    }
  });

  it("after BlockRemoved only the sticky hint is left: the prompt goes back where kvroute sent it", async () => {
    await publisher.publish(removed);
    await until((b) => b.prefix.eventBlocks === 0, "blocks removed");
    // No pod holds the prefix now; kvroute keeps the prefix group together on the pod it chose before (a cold
    // prefill costs the same anywhere) instead of scattering it by load.
    const { target, line } = await route();
    expect(target).toBe(B.address);
    expect(line["fallbackReason"]).toBeUndefined();
  });

  it("a prompt kvroute never routed and no pod reported falls back to least-request", async () => {
    const { line } = await route(Array.from({ length: 64 }, (_, i) => 70_000 + i));
    expect(line).toMatchObject({ fallbackReason: "no-prefix-match", fallbackTo: "least-request" });
  });

  it("after AllBlocksCleared the prefix no longer decides", async () => {
    await publisher.publish(storedOf(TOKENS2, HASHES2));
    await until((b) => b.prefix.eventBlocks === 4, "blocks of the second prompt stored");
    expect((await route(TOKENS2)).target).toBe(B.address);
    await publisher.publish(cleared);
    await until((b) => b.prefix.eventBlocks === 0, "blocks cleared");
    // The events no longer place the prompt anywhere; only the approximate index's weak hint (kvroute sent it to
    // pod B) is left, and it keeps the prompt on B.
    const after = await route(TOKENS2);
    expect(after.target).toBe(B.address);
    expect(after.line["fallbackReason"]).toBeUndefined();
  });
});

describe("speculative entries end to end", () => {
  const TTL_MS = 1000;
  // The TTL's clock, stepped by the test: on a loaded machine two routes can be more than a TTL apart in real time.
  let clock = 0;
  const TOKENS3 = Array.from({ length: 64 }, (_, i) => 9000 + i);
  let publisher: FakeVllmPublisher;
  let h: Harness;
  // Both pods publish (one publisher at their shared IP), so the approximate index is consulted for neither.
  const labels = { "model.aibrix.ai/name": "m1", "model.aibrix.ai/kv-events-enabled": "true" };
  const A = { ...pod("pod-a", "127.0.0.1", ["m1"], true, 18011), labels };
  const B = { ...pod("pod-b", "127.0.0.1", ["m1"], true, 18012), labels };

  beforeAll(async () => {
    const [pubPort, replayPort] = [await freePort(), await freePort()];
    publisher = await FakeVllmPublisher.start({ pubPort, replayPort });
    h = await startHarness(
      [A, B],
      [
        ...["--kv-events-port", String(pubPort), "--kv-events-replay-port", String(replayPort)],
        ...["--prefix-speculative-ttl-ms", String(TTL_MS)],
      ],
      {},
      { speculativeNow: () => clock },
    );
    for (let i = 0; i < 250; i++) {
      if ((await podStates(h)).every((p) => p.prefix.kvEvents?.lastSeq != null)) break;
      await publisher.publish(cleared);
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  afterAll(async () => {
    await h.close();
    await publisher.close();
  });

  it("a repeat of a prompt just routed to a publishing pod goes there before any event, until the TTL", async () => {
    const first = await routeOnce(h, TOKENS3);
    expect(first.line).toMatchObject({ fallbackReason: "no-prefix-match" });
    const chosen = [A, B].find((p) => p.address === first.target);
    if (!chosen) throw new Error(`unexpected target ${first.target}`);
    const states = await podStates(h);
    expect(states.find((p) => p.name === chosen.name)?.prefix).toMatchObject({
      eventBlocks: 0,
      speculativeBlocks: 4,
      kvEvents: { publishing: true },
    });
    // Right after: the speculative entries decide, no event has arrived.
    const second = await routeOnce(h, TOKENS3);
    expect(second.target).toBe(first.target);
    expect(second.line["fallbackReason"]).toBeUndefined();
    // After the TTL they are gone; only the approximate index's weak sticky hint still points at the same pod.
    clock += TTL_MS - 1;
    expect((await podStates(h)).find((p) => p.name === chosen.name)?.prefix).toMatchObject({
      speculativeBlocks: 4,
    });
    clock += 2;
    const states2 = await podStates(h);
    expect(states2.find((p) => p.name === chosen.name)?.prefix).toMatchObject({ speculativeBlocks: 0 });
    expect((await routeOnce(h, TOKENS3)).target).toBe(first.target);
  });
});
