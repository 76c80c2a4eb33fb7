/**
 * End to end through ext_proc: one pod serving two data-parallel ranks (`dataParallelSize: 2` in the endpoints
 * file) is two endpoints, each followed on its own ZeroMQ publisher — a real one per rank, at the KV-event base
 * port + rank, stamping its rank on every batch as vLLM does. Blocks one rank reports route the prompt to that
 * rank's address and never count for the other; a batch stamped with the wrong rank is dropped and counted.
 */
import { parseEndpointsFile } from "../../src/cluster/discovery/endpoints-file";
import { FakeVllmPublisher } from "../kvevents/fake-vllm-publisher";
import { encodeTestBatch } from "../support/vllm-kv-batch";
import { body, headers, setHeaders, startHarness } from "./harness";
import { debugPods, finishedLine } from "./harness-probes";
import type { Harness } from "./harness";

const prompt = (from: number): number[] => Array.from({ length: 64 }, (_, i) => from + i); // 4 blocks of 16
const hashes = (from: bigint): bigint[] => [0n, 1n, 2n, 3n].map((i) => from + i + (1n << 62n));
const [TOKENS0, TOKENS1, TOKENS_WRONG] = [prompt(40_000), prompt(41_000), prompt(42_000)];

/** A batch as rank `rank`'s publisher stamps it (the timestamp is arbitrary: kvroute does not read it). */
const stored = (rank: number, tokens: number[], blockHashes: bigint[]): Uint8Array =>
  encodeTestBatch(1.5, [{ type: "BlockStored", blockHashes, tokenIds: tokens, blockSize: 16 }], rank);
const cleared = (rank: number): Uint8Array => encodeTestBatch(1.5, [{ type: "AllBlocksCleared" }], rank);

interface EndpointState {
  key: string;
  name: string;
  address: string;
  dataParallelRank?: number;
  prefix: { eventBlocks: number; kvEvents: { lastSeq: string | null } | null };
}

/** Publishers for ranks 0 and 1 at PUB ports p, p + 1 and replay ports q, q + 1 (retried on a taken port). */
async function rankPublishers(): Promise<FakeVllmPublisher[]> {
  for (let attempt = 0; ; attempt++) {
    const r0 = await FakeVllmPublisher.start();
    try {
      return [r0, await FakeVllmPublisher.start({ pubPort: r0.pubPort + 1, replayPort: r0.replayPort + 1 })];
    } catch (e) {
      await r0.close();
      if (attempt >= 20) throw e;
    }
  }
}

describe("data-parallel ranks routed by their own KV events", () => {
  const RANK0 = "127.0.0.1:18061";
  const RANK1 = "127.0.0.1:18062";
  let publishers: FakeVllmPublisher[];
  let h: Harness;

  async function endpoints(): Promise<Map<string, EndpointState>> {
    return new Map((await debugPods<EndpointState>(h)).map((p) => [p.address, p]));
  }

  /** Wait for kvroute to have applied what was published (bounded; ZeroMQ gives no cross-process event). */
  async function until(cond: (e: Map<string, EndpointState>) => boolean, what: string): Promise<void> {
    for (let i = 0; i < 250; i++) {
      if (cond(await endpoints())) return;
      await new Promise((r) => setTimeout(r, 20));
    }
    throw new Error(`timed out waiting for ${what}: ${JSON.stringify([...(await endpoints()).values()])}`);
  }
  const blocks = (e: Map<string, EndpointState>, address: string): number | undefined =>
    e.get(address)?.prefix.eventBlocks;

  async function route(tokens: number[]): Promise<{ target: string; line: Record<string, unknown> }> {
    const s = h.client.open();
    await s.exchange(
      headers({
        ":method": "POST",
        ":path": "/v1/completions",
        "routing-strategy": "prefix-cache",
        "x-request-id": `r${Math.random().toString(36).slice(2)}`,
      }),
    );
    const [r] = await s.exchange(body(JSON.stringify({ model: "m1", prompt: tokens })));
    const target = setHeaders(r)["target-pod"] ?? "";
    const id = setHeaders(r)["x-request-id"];
    s.cancel();
    const line = await finishedLine(h, { requestId: id });
    return { target, line };
  }

  beforeAll(async () => {
    publishers = await rankPublishers();
    const [r0] = publishers as [FakeVllmPublisher];
    const pods = parseEndpointsFile(
      "models:\n  - name: m1\n    endpoints: [{ address: 127.0.0.1:18061, dataParallelSize: 2 }]\n",
    );
    h = await startHarness(pods, [
      "--kv-events-static",
      ...["--kv-events-port", String(r0.pubPort), "--kv-events-replay-port", String(r0.replayPort)],
    ]);
    // ZeroMQ slow joiner: each rank publishes harmless batches until kvroute has applied one of its own.
    for (let i = 0; i < 250; i++) {
      const e = await endpoints();
      const waiting = [RANK0, RANK1].filter((a) => e.get(a)?.prefix.kvEvents?.lastSeq == null);
      if (waiting.length === 0) break;
      for (const a of waiting) await publishers[a === RANK0 ? 0 : 1]!.publish(cleared(a === RANK0 ? 0 : 1));
      await new Promise((r) => setTimeout(r, 20));
    }
  });
  afterAll(async () => {
    await h.close();
    await Promise.all(publishers.map((p) => p.close()));
  });

  it("is one endpoint per rank, with the pod's name and the rank's address", async () => {
    const e = await endpoints();
    expect([...e.values()].map((p) => [p.key, p.name, p.address, p.dataParallelRank])).toEqual([
      ["static/127.0.0.1:18061", RANK0, RANK0, 0],
      ["static/127.0.0.1:18062", RANK0, RANK1, 1],
    ]);
  });

  it("routes a prompt to the rank that reported its blocks, and keeps the other rank's index apart", async () => {
    await publishers[1]!.publish(stored(1, TOKENS1, hashes(100n)));
    await until((e) => blocks(e, RANK1) === 4, "rank 1's 4 blocks indexed");
    expect(blocks(await endpoints(), RANK0)).toBe(0);
    for (let i = 0; i < 4; i++) {
      const { target, line } = await route(TOKENS1);
      expect(target).toBe(RANK1);
      expect(line["fallbackReason"]).toBeUndefined();
    }

    await publishers[0]!.publish(stored(0, TOKENS0, hashes(200n)));
    await until((e) => blocks(e, RANK0) === 4, "rank 0's 4 blocks indexed");
    expect(blocks(await endpoints(), RANK1)).toBe(4);
    for (let i = 0; i < 4; i++) expect((await route(TOKENS0)).target).toBe(RANK0);
    expect((await route(TOKENS1)).target).toBe(RANK1);
  });

  it("drops a batch stamped with another rank than its port's, and counts it", async () => {
    await publishers[0]!.publish(stored(1, TOKENS_WRONG, hashes(300n)));
    const scrape = async (): Promise<string> =>
      (await fetch(`http://127.0.0.1:${h.server.httpPort}/metrics`)).text();
    const counted = `kvroute_kv_event_issues_total{pod="${RANK0}/rank-0",kind="rank-mismatch"} 1`;
    for (let i = 0; i < 250 && !(await scrape()).includes(counted); i++) {
      await new Promise((r) => setTimeout(r, 20));
    }
    expect(await scrape()).toContain(counted);
    const e = await endpoints();
    expect([blocks(e, RANK0), blocks(e, RANK1)]).toEqual([4, 4]);
    // The dropped blocks place the prompt nowhere.
    expect((await route(TOKENS_WRONG)).line).toMatchObject({ fallbackReason: "no-prefix-match" });
  });
});

describe("KV-event ports of data-parallel ranks", () => {
  it("warns once when a rank's PUB port is another rank's replay port", async () => {
    const pods = parseEndpointsFile(
      "models:\n  - name: m1\n    endpoints: [{ address: 127.0.0.1:18071, dataParallelSize: 3 }]\n",
    );
    // Nothing listens on these loopback ports: the subscribers just keep retrying.
    const h = await startHarness(pods, [
      ...["--kv-events-static", "--kv-events-port", "15557", "--kv-events-replay-port", "15558"],
    ]);
    try {
      const line = await h.log.waitFor((l) => String(l["msg"]).includes("PUB port is another rank's replay"));
      expect(line).toMatchObject({ rank: 1, kvEventsPort: 15557, kvEventsReplayPort: 15558 });
      expect(h.log.lines.filter((l) => String(l["msg"]).includes("replay port")).length).toBe(1);
    } finally {
      await h.close();
    }
  });
});
