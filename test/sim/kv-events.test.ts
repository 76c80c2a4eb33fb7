import { Dealer, Subscriber } from "zeromq";
import { decodeBatch, isDecodeError } from "../../src/kvevents/decode";
import type { BlockStoredEvent, DecodedBatch } from "../../src/kvevents/decode";
import { PodSubscriber } from "../../src/kvevents/pod-subscriber";
import { createBlockHasher } from "../../src/prefix/block-hasher";
import { createEventIndex } from "../../src/prefix/event-index";
import { MODEL, post, startPod, until } from "./helpers";
import type { TestPod } from "./helpers";

let t: TestPod;
let sub: Subscriber;
/** Live messages received on the SUB socket, in order. */
const live: { seq: bigint; payload: Buffer; batch: DecodedBatch }[] = [];
let probes = 0;

async function complete(prompt: string): Promise<void> {
  const r = await post(`${t.pod.url}/v1/completions`, { model: MODEL, prompt, max_tokens: 1 });
  expect(r.status).toBe(200);
}

/** ZeroMQ slow joiner: send fresh prompts until an event arrives, so later events are not lost. */
async function probeUntil(arrived: () => boolean): Promise<void> {
  const deadline = Date.now() + 5000;
  while (!arrived()) {
    if (Date.now() > deadline) throw new Error("no KV event arrived");
    await complete(`probe ${probes++} `.padEnd(40, "."));
  }
}

beforeAll(async () => {
  t = await startPod();
  sub = new Subscriber({ linger: 0 });
  sub.connect(`tcp://127.0.0.1:${t.pod.pubPort}`);
  sub.subscribe("kv-events");
  void (async () => {
    for await (const [topic, seq, payload] of sub) {
      if (topic?.toString() !== "kv-events" || seq?.length !== 8 || payload === undefined) continue;
      const batch = decodeBatch(payload);
      if (isDecodeError(batch)) throw new Error(batch.detail);
      live.push({ seq: seq.readBigUInt64BE(0), payload, batch });
    }
  })().catch(() => undefined);
  await probeUntil(() => live.length > 0);
});
afterAll(async () => {
  sub.close();
  await t.close();
});

const stored = (): BlockStoredEvent[] =>
  live.flatMap((m) => m.batch.events.filter((e): e is BlockStoredEvent => e.tag === "BlockStored"));

describe("KV events over ZeroMQ", () => {
  it("BlockStored decodes with kvroute's decoder and carries the prompt's blocks", async () => {
    const prompt = "A shared system prompt of exactly sixty-four characters, padded.";
    expect(prompt.length).toBe(64);
    await complete(prompt);
    const tokens = Array.from(await t.tokenizers.forModel(MODEL).encode(prompt));
    // Full blocks of the prompt: 64 tokens = 4 blocks of 16; the chain's events cover them in order.
    await until(() => stored().some((e) => e.tokenIds.length > 0 && e.tokenIds[0] === tokens[0]), "stored");
    const mine = stored().filter((e) => tokens.join(",").includes(e.tokenIds.join(",")));
    const covered = mine.flatMap((e) => e.tokenIds);
    expect(covered.slice(0, 64)).toEqual(tokens);
    const first = mine[0] as BlockStoredEvent;
    expect(first).toMatchObject({ parentBlockHash: undefined, blockSize: 16, medium: "GPU", groupIdx: 0 });
    expect(typeof first.blockHashes[0]).toBe("bigint");
    for (let i = 1; i < live.length; i++) expect(live[i]?.seq).toBe((live[i - 1]?.seq ?? 0n) + 1n);
  });

  it("replay returns the missed batches byte for byte, then END_SEQ", async () => {
    const dealer = new Dealer({ linger: 0, receiveTimeout: 3000 });
    try {
      dealer.connect(`tcp://127.0.0.1:${t.pod.replayPort}`);
      await dealer.send([Buffer.alloc(0), Buffer.alloc(8)]); // from seq 0: includes what the slow joiner lost
      const got: { seq: bigint; payload: Buffer }[] = [];
      for (;;) {
        const [delim, seq, payload] = await dealer.receive();
        expect(delim?.length).toBe(0);
        if (seq?.toString("hex") === "ffffffffffffffff") {
          expect(payload?.length).toBe(0);
          break;
        }
        got.push({ seq: seq?.readBigUInt64BE(0) ?? -1n, payload: payload ?? Buffer.alloc(0) });
      }
      expect(got.map((g) => g.seq)).toEqual(got.map((_, i) => BigInt(i)));
      expect(got.length).toBe(Number(t.pod.publisher.nextSeq));
      for (const m of live) expect(got[Number(m.seq)]?.payload.equals(m.payload)).toBe(true);
    } finally {
      dealer.close();
    }
  });

  it("POST /reset_prefix_cache publishes AllBlocksCleared", async () => {
    const res = await fetch(`${t.pod.url}/reset_prefix_cache`, { method: "POST" });
    expect(res.status).toBe(200);
    await until(() => live.some((m) => m.batch.events.some((e) => e.tag === "AllBlocksCleared")), "cleared");
  });
});

describe("kvroute's PodSubscriber against a simulated pod", () => {
  it("indexes the pod's blocks under the keys kvroute computes for the prompt", async () => {
    const hasher = await createBlockHasher(42n);
    const index = createEventIndex({ hasher, maxBlocks: 100_000 });
    const subscriber = new PodSubscriber({
      podKey: "static/sim",
      ip: "127.0.0.1",
      pubPort: t.pod.pubPort,
      replayPort: t.pod.replayPort,
      sink: index,
    });
    try {
      await until(() => subscriber.status().connected, "subscriber connected");
      await probeUntil(() => index.blocks("static/sim") > 0);
      const prompt = "Every pod sees this long shared prefix; kvroute must find it here. ".repeat(3);
      await complete(prompt);
      const tokens = await t.tokenizers.forModel(MODEL).encode(prompt);
      const keys = hasher.chain(tokens, 16, "");
      await until(
        () => index.match(keys, ["static/sim"]).get("static/sim") === keys.length,
        "prompt indexed",
      );
      expect(keys.length).toBe(Math.floor(prompt.length / 16));
      expect(subscriber.status()).toMatchObject({ decodeErrors: 0, resyncs: 0 });
    } finally {
      await subscriber.close();
    }
  });
});
