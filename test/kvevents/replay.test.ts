import { Dealer } from "zeromq";
import { END_SEQ, ReplayFailure, ReplayRequest, seq8, tcpEndpoint } from "../../src/kvevents";
import type { SeqBatch } from "../../src/kvevents";
import { FakeVllmPublisher, LAYOUTS, fixtureFrames, fixtureReplay } from "./fake-vllm-publisher";

let pub: FakeVllmPublisher | undefined;
const sockets: { close(): void }[] = [];

afterEach(async () => {
  for (const s of sockets.splice(0)) s.close();
  await pub?.close();
  pub = undefined;
});

async function loaded(layout: (typeof LAYOUTS)[number]): Promise<FakeVllmPublisher> {
  pub = await FakeVllmPublisher.start();
  for (const f of fixtureFrames(layout)) await pub.publish(f.payload, { skip: true });
  return pub;
}

describe("replay protocol", () => {
  it.each(LAYOUTS)("the fake publisher answers a DEALER byte-for-byte like vLLM (%s)", async (layout) => {
    const p = await loaded(layout);
    const { request, replies } = fixtureReplay(layout);
    const dealer = new Dealer({ linger: 0, receiveTimeout: 2000 });
    sockets.push(dealer);
    dealer.connect(`tcp://127.0.0.1:${p.replayPort}`);
    await dealer.send(request);
    const got: Buffer[][] = [];
    for (let i = 0; i < replies.length; i++) got.push(await dealer.receive());
    expect(got.map((m) => m.map((b) => b.toString("hex")))).toEqual(
      replies.map((m) => m.map((b) => b.toString("hex"))),
    );
  });

  it("ReplayRequest yields the buffered batches from the start sequence up to END_SEQ", async () => {
    const p = await loaded("release_map");
    const req = new ReplayRequest(tcpEndpoint("127.0.0.1", p.replayPort), 3n, 2000);
    sockets.push(req);
    const got: SeqBatch[] = [];
    for await (const b of req.batches()) got.push(b);
    const frames = fixtureFrames("release_map");
    expect(got.map((b) => b.seq)).toEqual([3n, 4n]);
    expect(Buffer.from(got[1]!.payload).equals(frames[4]!.payload)).toBe(true);
  });

  it("ReplayRequest yields nothing when the start is newer than the buffer", async () => {
    const p = await loaded("legacy_array");
    const req = new ReplayRequest(tcpEndpoint("127.0.0.1", p.replayPort), 99n, 2000);
    sockets.push(req);
    const got: SeqBatch[] = [];
    for await (const b of req.batches()) got.push(b);
    expect(got).toEqual([]);
  });

  it("ReplayRequest fails with replay-timeout when nobody answers", async () => {
    const p = await loaded("legacy_array");
    p.muteReplay = true;
    const req = new ReplayRequest(tcpEndpoint("127.0.0.1", p.replayPort), 0n, 150);
    sockets.push(req);
    const it = req.batches();
    await expect(it.next()).rejects.toEqual(new ReplayFailure("replay-timeout"));
  });

  it("formats sequences and endpoints", () => {
    expect(seq8(END_SEQ).toString("hex")).toBe("ffffffffffffffff");
    expect(seq8(3n).toString("hex")).toBe("0000000000000003");
    // loopback-check: not-dialled (only formatted, next two lines)
    expect(tcpEndpoint("fd00::1", 5557)).toBe("tcp://[fd00::1]:5557");
    expect(tcpEndpoint("10.0.0.5", 5558)).toBe("tcp://10.0.0.5:5558"); // loopback-check: not-dialled (only formatted)
  });
});
