/**
 * The resilience benchmark's hostile inputs: ext_proc conversations in named classes, each built from a seeded PRNG
 * so a run is reproducible. A case is the list of encoded (or deliberately malformed) messages one stream carries,
 * in order; the runner (`resilience.ts`) writes them and classifies what kvroute answered.
 *
 * The classes follow what an attacker or a broken client can send through Envoy, and what Envoy itself does:
 * random and truncated protobuf, out-of-order phases, hostile headers (missing keys, control characters, huge
 * `Authorization`, thousands of headers, spoofed routing headers), malformed JSON, shape bombs (deep nesting, a
 * million empty messages), bodies over the size limit, hostile model names, and valid requests carrying a spoofed
 * `target-pod` (which must never be honoured).
 *
 * @module
 */
import type { ProcessingRequest } from "../src/extproc/messages";
import { seededRandom } from "../src/seeded-random";
import { chatBody } from "./extproc-workload";

/** Encoder of a `ProcessingRequest` (the proto definition the server uses). */
export type Encode = (m: ProcessingRequest) => Buffer;

/** One fuzz conversation. */
export interface FuzzCase {
  readonly cls: FuzzClass;
  /** Messages in the order they are written. */
  readonly messages: readonly Buffer[];
}

/** The fuzz classes, in report order. */
export const FUZZ_CLASSES = [
  "garbage-bytes",
  "truncated-proto",
  "out-of-order",
  "hostile-headers",
  "bad-json",
  "shape-bomb",
  "oversize-body",
  "model-names",
  "spoofed-target",
] as const;
/** One fuzz class. */
export type FuzzClass = (typeof FUZZ_CLASSES)[number];

/** A `target-pod` / destination value no fleet contains: a decision naming it is a routing-hijack finding. */
export const SPOOFED_TARGET = "127.66.66.66:6666"; // loopback-check: not-dialled (a forged header value, no pod)

/** What the cases need to know about the server under test. */
export interface FuzzTarget {
  readonly model: string;
  /** kvroute's `--max-body-bytes`. */
  readonly maxBodyBytes: number;
}

type Header = readonly [string, string | Buffer];

function headersMessage(encode: Encode, extra: readonly Header[], mode: "BUFFERED" | "STREAMED"): Buffer {
  const base: Header[] = [
    [":authority", "gateway.test"],
    [":path", "/v1/chat/completions"],
    [":method", "POST"],
    ["content-type", "application/json"],
  ];
  return encode({
    protocol_config: { request_body_mode: mode, response_body_mode: "STREAMED" },
    request_headers: {
      headers: {
        headers: [...base, ...extra].map(([key, v]) => ({
          key,
          raw_value: typeof v === "string" ? Buffer.from(v, "latin1") : v,
        })),
      },
      end_of_stream: false,
    },
  });
}

function bodyMessage(encode: Encode, body: string | Buffer, endOfStream = true): Buffer {
  return encode({
    request_body: {
      body: typeof body === "string" ? Buffer.from(body, "utf8") : body,
      end_of_stream: endOfStream,
    },
  });
}

/** A valid chat body for `model` with `chars` or so of prompt. */
function validBody(model: string, tokens: number, seed: number): string {
  return chatBody(model, tokens, seed);
}

/** Builds the cases of one class; `i` numbers the case within the run. */
type Builder = (encode: Encode, t: FuzzTarget, rand: () => number, i: number) => Buffer[];

const int = (rand: () => number, n: number): number => Math.floor(rand() * n);

function randomBytes(rand: () => number, n: number): Buffer {
  const b = Buffer.allocUnsafe(n);
  for (let i = 0; i < n; i++) b[i] = int(rand, 256);
  return b;
}

const BUILDERS: Readonly<Record<FuzzClass, Builder>> = {
  "garbage-bytes": (_e, _t, rand) => [randomBytes(rand, 1 + int(rand, 2048))],
  "truncated-proto": (encode, t, rand, i) => {
    const whole = headersMessage(encode, [["x-request-id", `fz-${i}`]], "BUFFERED");
    const body = bodyMessage(encode, validBody(t.model, 64, i));
    const cutHeaders = whole.subarray(0, 1 + int(rand, whole.length - 1));
    return rand() < 0.5 ? [cutHeaders] : [whole, body.subarray(0, 1 + int(rand, body.length - 1))];
  },
  "out-of-order": (encode, t, rand, i) => {
    const h = headersMessage(encode, [], "BUFFERED");
    const b = bodyMessage(encode, validBody(t.model, 32, i));
    const rh = encode({ response_headers: { headers: { headers: [] }, end_of_stream: false } });
    const rb = encode({ response_body: { body: Buffer.from("data: x\n\n"), end_of_stream: true } });
    const tr = encode({ request_trailers: { trailers: { headers: [] } } });
    const shapes: Buffer[][] = [
      [b],
      [rh],
      [rb],
      [tr],
      [h, h],
      [h, b, b],
      [h, rh],
      [h, b, rh, rh],
      [Buffer.alloc(0)],
      [h, Buffer.alloc(0)],
    ];
    return shapes[int(rand, shapes.length)] ?? [b];
  },
  "hostile-headers": (encode, t, rand, i) => {
    const body = bodyMessage(encode, validBody(t.model, 32, i));
    const variants: (() => Buffer)[] = [
      // A header without a key.
      () => encode({ request_headers: { headers: { headers: [{ raw_value: Buffer.from("x") } as never] } } }),
      () => headersMessage(encode, [["authorization", `Bearer ${" ".repeat(60_000)}x`]], "BUFFERED"),
      () => headersMessage(encode, [["authorization", `bearer${"\t".repeat(60_000)}`]], "BUFFERED"),
      () =>
        headersMessage(encode, [["routing-strategy", `x\r\n${"y".repeat(int(rand, 10_000))}`]], "BUFFERED"),
      () => headersMessage(encode, [["routing-strategy", `strategy-${int(rand, 1_000_000)}`]], "BUFFERED"),
      () => headersMessage(encode, [["x-nul", "a\u0000b\r\nc"]], "BUFFERED"),
      () =>
        headersMessage(
          encode,
          Array.from({ length: 5000 }, (_, k): Header => [`x-h-${k}`, "v"]),
          "BUFFERED",
        ),
      () => headersMessage(encode, [[":path", randomBytes(rand, 64)]], "BUFFERED"),
      () =>
        headersMessage(
          encode,
          [
            ["target-pod", SPOOFED_TARGET],
            ["x-gateway-destination-endpoint", SPOOFED_TARGET],
          ],
          "BUFFERED",
        ),
    ];
    return [variants[int(rand, variants.length)]?.() ?? Buffer.alloc(0), body];
  },
  "bad-json": (encode, t, rand, i) => {
    const valid = validBody(t.model, 64, i);
    const bodies: (string | Buffer)[] = [
      valid.slice(0, int(rand, valid.length)),
      "[]",
      "42",
      "null",
      `{"model":${JSON.stringify(t.model)},"messages":"hi"}`,
      `{"model":7,"messages":[]}`,
      `{"model":${JSON.stringify(t.model)},"messages":[{"role":"user","content":{"a":1}}]}`,
      Buffer.concat([Buffer.from(valid.slice(0, 40)), Buffer.from([0xff, 0xfe, 0xc0])]),
      "",
    ];
    return [
      headersMessage(encode, [], "BUFFERED"),
      bodyMessage(encode, bodies[int(rand, bodies.length)] ?? ""),
    ];
  },
  "shape-bomb": (encode, t, rand) => {
    const room = t.maxBodyBytes - 200;
    const shapes: (() => string)[] = [
      () => `{"model":${JSON.stringify(t.model)},"messages":${"[".repeat(room / 2)}`,
      () => `{"model":${JSON.stringify(t.model)},"messages":[${"{},".repeat(room / 3 - 1)}{}]}`,
      () =>
        `{"model":${JSON.stringify(t.model)},"messages":[{"role":"user","content":[` +
        `${'{"type":"text","text":""},'.repeat(room / 27 - 1)}{"type":"text","text":""}]}]}`,
      () => `{"model":${JSON.stringify(t.model)},"prompt":${JSON.stringify("a ".repeat(room / 2 - 10))}}`,
    ];
    const body = shapes[int(rand, shapes.length)]?.() ?? "{}";
    return [headersMessage(encode, [], "BUFFERED"), bodyMessage(encode, body)];
  },
  "oversize-body": (encode, t, rand) => {
    const total = t.maxBodyBytes + (1 << 20);
    if (rand() < 0.5) {
      return [headersMessage(encode, [], "BUFFERED"), bodyMessage(encode, Buffer.alloc(total, 0x61))];
    }
    const chunk = 64 * 1024;
    const out = [headersMessage(encode, [], "STREAMED")];
    for (let sent = 0; sent < total; sent += chunk) {
      out.push(bodyMessage(encode, Buffer.alloc(chunk, 0x61), sent + chunk >= total));
    }
    return out;
  },
  "model-names": (encode, _t, rand) => {
    const names = [
      "evil\r\nx-injected: 1",
      "nul\u0000model",
      "m".repeat(2 * 1024 * 1024),
      "😀".repeat(1000),
      "",
      "../../etc/passwd",
    ];
    const model = names[int(rand, names.length)] ?? "";
    return [
      headersMessage(encode, [], "BUFFERED"),
      bodyMessage(encode, JSON.stringify({ model, messages: [{ role: "user", content: "hi" }] })),
    ];
  },
  "spoofed-target": (encode, t, rand, i) => [
    headersMessage(
      encode,
      [
        ["target-pod", SPOOFED_TARGET],
        ["x-gateway-destination-endpoint", SPOOFED_TARGET],
        ["x-gateway-destination-endpoint-subset", SPOOFED_TARGET],
        ["x-request-id", `spoof-${i}`],
      ],
      rand() < 0.5 ? "BUFFERED" : "STREAMED",
    ),
    bodyMessage(encode, validBody(t.model, 16 + int(rand, 256), i)),
  ],
};

/** Classes whose cases carry megabytes: built once every {@link HEAVY_EVERY} rounds, so a run stays minutes long. */
const HEAVY: ReadonlySet<FuzzClass> = new Set(["shape-bomb", "oversize-body", "model-names"]);
/** One heavy case per this many rounds of the light classes. */
export const HEAVY_EVERY = 25;

/**
 * The cases of a run: `rounds` rounds of every light class and every {@link HEAVY_EVERY}th round of the heavy ones,
 * interleaved so no class runs alone. Deterministic in `seed`.
 */
export function* fuzzCases(
  encode: Encode,
  target: FuzzTarget,
  rounds: number,
  seed: number,
  only: ReadonlySet<FuzzClass> = new Set(FUZZ_CLASSES),
): Generator<FuzzCase> {
  const rand = seededRandom(seed);
  // Heavy classes asked for without light ones run every round.
  const thin = [...only].some((c) => !HEAVY.has(c));
  for (let i = 0; i < rounds; i++) {
    for (const cls of FUZZ_CLASSES) {
      if (!only.has(cls) || (thin && HEAVY.has(cls) && i % HEAVY_EVERY !== 0)) continue;
      yield { cls, messages: BUILDERS[cls](encode, target, rand, i) };
    }
  }
}
