/**
 * A pod's KV-event stream logged once per change, through a real kvroute and a real ZeroMQ publisher, read from the
 * server's logger sink: `connected` once, `stream degraded` (warn, with the reason class) when a gap opens,
 * `stream recovered` (info) once the replay filled it, and `degraded` again when the publisher goes away. A flood of
 * undecodable batches writes one warn line, written again only after the stream recovered.
 */
import { parseEndpointsFile } from "../../src/cluster/discovery/endpoints-file";
import { FakeVllmPublisher } from "../kvevents/fake-vllm-publisher";
import { encodeTestBatch } from "../support/vllm-kv-batch";
import { within } from "../support/within";
import { startHarness } from "./harness";
import type { Harness } from "./harness";
import { debugPods } from "./harness-probes";

const ADDRESS = "127.0.0.1:18071";
const CONNECTED = "kv events: connected";
const DEGRADED = "kv events: stream degraded; prefix matches on the pod may miss until it recovers";
const RECOVERED = "kv events: stream recovered";
const UNDECODABLE =
  "kv events: undecodable batch dropped; more from the pod are only counted until its stream recovers";
/** 0xc1 is a msgpack type byte that is never used: not msgpack. */
const garbage = (): Uint8Array => Uint8Array.of(0xc1, 0x00);
const cleared = (): Uint8Array => encodeTestBatch(1.5, [{ type: "AllBlocksCleared" }]);

interface EndpointState {
  address: string;
  prefix: { kvEvents: { lastSeq: string | null; decodeErrors: number } | null };
}

describe("KV-event stream state logs", () => {
  let publisher: FakeVllmPublisher | undefined;
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    await publisher?.close();
  });

  it("connected once; bad batches warn once; a gap degrades it (warn) until its replay applies (info); a lost publisher degrades it", async () => {
    const pub = await FakeVllmPublisher.start();
    publisher = pub;
    const pods = parseEndpointsFile(`models:\n  - name: m1\n    endpoints: [${ADDRESS}]\n`);
    const harness = await startHarness(pods, [
      "--kv-events-static",
      ...["--kv-events-port", String(pub.pubPort), "--kv-events-replay-port", String(pub.replayPort)],
    ]);
    h = harness;
    const lines = (msg: string): Record<string, unknown>[] =>
      harness.log.lines.filter((l) => l["msg"] === msg);
    /** The `n`-th line of `msg`, logged already or still to come. */
    const next = (msg: string, n: number): Promise<Record<string, unknown>> =>
      within(
        harness.log.waitFor((l) => l["msg"] === msg && lines(msg).indexOf(l) === n - 1),
        15_000,
        `${msg} #${n}`,
      );

    expect(await next(CONNECTED, 1)).toMatchObject({ level: "info", pod: ADDRESS });
    // ZeroMQ slow joiner: publish harmless batches until kvroute has applied one.
    const lastSeq = async (): Promise<string | null | undefined> =>
      (await debugPods<EndpointState>(harness)).find((p) => p.address === ADDRESS)?.prefix.kvEvents?.lastSeq;
    await within(
      (async () => {
        while ((await lastSeq()) == null) {
          await pub.publish(cleared());
          await new Promise((r) => setTimeout(r, 20));
        }
      })(),
      15_000,
      "first batch applied",
    );

    const decodeErrors = async (): Promise<number | undefined> =>
      (await debugPods<EndpointState>(harness)).find((p) => p.address === ADDRESS)?.prefix.kvEvents
        ?.decodeErrors;

    // A flood of bad messages (a wrong frame count, then payloads that are not msgpack): one warn line, naming the
    // pod and why, never the bytes. The good batch after them is the barrier: once it applied, all of them were read.
    await pub.sendRaw([Buffer.from("kv-events"), Buffer.alloc(8)]);
    for (let i = 0; i < 20; i++) void pub.publish(garbage());
    const good = await pub.publish(cleared());
    expect(await next(UNDECODABLE, 1)).toEqual(
      expect.objectContaining({
        level: "warn",
        pod: ADDRESS,
        reason: "decode-frames",
        detail: "2 frames, 3 expected",
      }),
    );
    await within(
      (async () => {
        while ((await lastSeq()) !== String(good)) await new Promise((r) => setTimeout(r, 20));
      })(),
      15_000,
      "batch after the bad ones applied",
    );
    expect(await decodeErrors()).toBe(21);
    expect(lines(UNDECODABLE)).toHaveLength(1);

    // A batch lost on the way (numbered, retained for replay, never sent), then the next one: a gap.
    await pub.publish(cleared(), { skip: true });
    await pub.publish(cleared());
    expect(await next(DEGRADED, 1)).toMatchObject({ level: "warn", pod: ADDRESS, reason: "gap" });
    const recovered = await next(RECOVERED, 1);
    expect(recovered).toMatchObject({ level: "info", pod: ADDRESS });
    expect(typeof recovered["downForMs"]).toBe("number");
    // After a recovery, a bad batch is news again.
    await pub.publish(garbage());
    expect(await next(UNDECODABLE, 2)).toMatchObject({
      level: "warn",
      pod: ADDRESS,
      reason: "decode-msgpack",
    });

    // The engine goes away: one more change.
    await pub.close();
    publisher = undefined;
    expect(await next(DEGRADED, 2)).toMatchObject({ level: "warn", reason: "disconnected" });
    expect(lines(CONNECTED)).toHaveLength(1);
    expect(lines(RECOVERED)).toHaveLength(1);
  });
});
