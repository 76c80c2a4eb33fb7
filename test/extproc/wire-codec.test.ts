/**
 * The codec shortcuts (`src/extproc/wire-codec.ts`) agree with proto-loader: the same objects in, the same bytes
 * out, on the messages Envoy sends, on hand-made odd encodings and on random corruptions of them.
 */
import type { Metadata, ProcessingRequest, ProcessingResponse } from "../../src/extproc/messages";
import { loadExtProcDefinition } from "../../src/extproc/proto";
import { CONSTANT_REPLIES, bodyContinue, trailersContinue } from "../../src/extproc/replies";
import { readSubsetHint } from "../../src/extproc/subset-hint";
import { readBodyMessage, withFastCodec } from "../../src/extproc/wire-codec";
import { seededRandom } from "../../src/seeded-random";

const plain = loadExtProcDefinition().processService.Process;
const fast = withFastCodec(loadExtProcDefinition().processService).Process;

/** proto-loader's reading of `bytes`, or the error it throws. */
function general(bytes: Buffer): ProcessingRequest | Error {
  try {
    return plain.requestDeserialize(bytes);
  } catch (e) {
    return e as Error;
  }
}

/** The endpoint-picker's subset hint, as Envoy sends it in `metadata_context` (field 8). */
const SUBSET_METADATA: Metadata = {
  filter_metadata: {
    "envoy.lb.subset_hint": {
      fields: {
        "x-gateway-destination-endpoint-subset": {
          listValue: { values: [{ stringValue: "127.0.0.11:8000" }, { stringValue: "127.0.0.12:8000" }] },
        },
      },
    },
  },
};

const messages: readonly ProcessingRequest[] = [
  { response_body: { body: Buffer.from('data: {"a":1}\n\n'), end_of_stream: false } },
  { response_body: { body: Buffer.from("x".repeat(300)), end_of_stream: true } },
  { response_body: { body: Buffer.alloc(0), end_of_stream: true } },
  { response_body: { end_of_stream: true } },
  { response_body: { body: Buffer.from("é😀") } },
  { response_body: {} },
  { request_body: { body: Buffer.from('{"model":"m"}'), end_of_stream: true } },
  { request_body: { body: Buffer.alloc(70_000, 0x61), end_of_stream: false } },
  { response_body: { body: Buffer.from("a"), end_of_stream: true }, observability_mode: true },
  {
    request_body: { body: Buffer.from("{}"), end_of_stream: true },
    protocol_config: { request_body_mode: "STREAMED" },
  },
  { request_headers: { headers: { headers: [{ key: ":path", raw_value: Buffer.from("/v1/chat") }] } } },
  { response_trailers: {} },
  {
    request_headers: { headers: { headers: [{ key: ":path", raw_value: Buffer.from("/v1/chat") }] } },
    metadata_context: SUBSET_METADATA,
  },
  { request_body: { body: Buffer.from("{}"), end_of_stream: true }, metadata_context: SUBSET_METADATA },
];
const encoded = messages.map((m) => plain.requestSerialize(m));

describe("wire codec", () => {
  it("reads every message exactly as proto-loader does, and body-only ones without it", () => {
    for (const [i, bytes] of encoded.entries()) {
      expect(fast.requestDeserialize(bytes)).toEqual(general(bytes));
      const msg = messages[i]!;
      const bodyOnly = Object.keys(msg).length === 1 && (msg.request_body ?? msg.response_body) !== undefined;
      expect(readBodyMessage(bytes) !== undefined).toBe(bodyOnly);
    }
  });

  it("decodes metadata_context, and the subset hint in it, on a request-headers message", () => {
    const bytes = plain.requestSerialize({
      request_headers: { headers: { headers: [{ key: ":path", raw_value: Buffer.from("/v1/chat") }] } },
      metadata_context: SUBSET_METADATA,
    });
    expect(readBodyMessage(bytes)).toBeUndefined();
    const hint = readSubsetHint(fast.requestDeserialize(bytes).metadata_context);
    expect(hint).toEqual({ t: "subset", addresses: new Set(["127.0.0.11:8000", "127.0.0.12:8000"]) });
  });

  it("leaves odd encodings to proto-loader: repeated, unknown or non-canonical fields", () => {
    const odd = [
      Buffer.from([0x2a, 0x06, 0x0a, 0x01, 0x61, 0x0a, 0x01, 0x62]), // body twice
      Buffer.from([0x2a, 0x04, 0x10, 0x01, 0x10, 0x00]), // end_of_stream twice
      Buffer.from([0x2a, 0x02, 0x10, 0x02]), // bool encoded as 2
      Buffer.from([0x2a, 0x03, 0x10, 0x81, 0x00]), // bool in two bytes
      Buffer.from([0x2a, 0x02, 0x18, 0x01]), // end_of_stream_without_message
      Buffer.from([0x2a, 0x02, 0x0a, 0x05]), // body longer than the message
      Buffer.from([0x2a, 0x05, 0x0a, 0x01]), // message longer than the bytes
      Buffer.from([0x2a, 0x00, 0x50, 0x01]), // observability_mode after the body
      Buffer.from([0x2a, 0x01, 0x10]), // truncated bool
    ];
    for (const bytes of odd) {
      expect(readBodyMessage(bytes)).toBeUndefined();
      const g = general(bytes);
      if (g instanceof Error) expect(() => fast.requestDeserialize(bytes)).toThrow();
      else expect(fast.requestDeserialize(bytes)).toEqual(g);
    }
  });

  it("agrees with proto-loader on random corruptions of real messages", () => {
    const random = seededRandom(7);
    let taken = 0;
    for (let round = 0; round < 20_000; round++) {
      const base = encoded[Math.floor(random() * encoded.length)]!;
      const bytes = Buffer.from(base.subarray(0, Math.min(base.length, 64)));
      for (let k = 0; k < 1 + Math.floor(random() * 3); k++)
        bytes[Math.floor(random() * bytes.length)] = Math.floor(random() * 256);
      const cut = bytes.subarray(0, random() < 0.2 ? Math.floor(random() * bytes.length) : bytes.length);
      const mine = readBodyMessage(cut);
      if (mine === undefined) continue;
      taken += 1;
      expect(mine).toEqual(general(cut));
    }
    // The shortcut was exercised, not skipped every time.
    expect(taken).toBeGreaterThan(100);
  });

  it("sends the constant replies as proto-loader encodes them, and everything else through it", () => {
    for (const reply of CONSTANT_REPLIES) {
      expect(fast.responseSerialize(reply)).toEqual(plain.responseSerialize(reply));
      expect(plain.responseDeserialize(fast.responseSerialize(reply))).toMatchObject(reply);
    }
    expect(CONSTANT_REPLIES).toContain(bodyContinue("response_body"));
    expect(CONSTANT_REPLIES).toContain(trailersContinue("request_trailers"));
    const dynamic: ProcessingResponse = { response_body: { response: { clear_route_cache: true } } };
    expect(fast.responseSerialize(dynamic)).toEqual(plain.responseSerialize(dynamic));
  });
});
