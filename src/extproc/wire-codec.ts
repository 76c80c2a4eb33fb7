/**
 * Shortcuts around proto-loader's codec for the two messages that make up most of a conversation: a body chunk
 * coming in, and the empty CONTINUE going back. A streamed response of N chunks is N of each, and proto-loader
 * turns every one into protobufjs objects and back into plain ones (`decode` + `toObject`, `fromObject` +
 * `encode`), which cost more than the rest of a chunk's handling.
 *
 * - Out: the constant replies of `replies.ts` (`bodyContinue`, `trailersContinue`) are encoded once, by
 *   proto-loader itself, and those bytes are sent for the very same objects (grpc-js copies them into its frame).
 * - In: a `ProcessingRequest` whose only field is `request_body` or `response_body`, holding only `body` and
 *   `end_of_stream`, each at most once, is read straight off the wire into the object proto-loader would build
 *   (`{ request: case, [case]: { body?, end_of_stream? } }`, `body` a view of the message's bytes as protobufjs
 *   gives it). Anything else — another field, a repeated or unknown one, a non-canonical encoding — goes through
 *   proto-loader unchanged. `test/extproc/wire-codec.test.ts` checks both paths agree, on random bytes too.
 *
 * @module
 */
import type * as grpc from "@grpc/grpc-js";
import type { ProcessingRequest, ProcessingResponse, RequestCase } from "./messages";
import type { ExtProcServiceDefinition } from "./proto";
import { CONSTANT_REPLIES } from "./replies";

/** Top-level `ProcessingRequest` tags (field << 3 | wire type 2) of the body cases. */
const BODY_CASE_BY_TAG: ReadonlyMap<number, RequestCase> = new Map<number, RequestCase>([
  [(4 << 3) | 2, "request_body"],
  [(5 << 3) | 2, "response_body"],
]);
/** `HttpBody.body` (1, length-delimited) and `HttpBody.end_of_stream` (2, varint). */
const TAG_BODY = (1 << 3) | 2;
const TAG_END_OF_STREAM = (2 << 3) | 0;

/** A varint's value and the offset after it, or `undefined` past 4 bytes (28 bits; longer: the general path). */
function readVarint(buf: Buffer, at: number, end: number): { value: number; next: number } | undefined {
  let value = 0;
  for (let i = 0; i < 4 && at + i < end; i++) {
    const b = buf[at + i]!;
    value |= (b & 0x7f) << (7 * i);
    if (b < 0x80) return { value, next: at + i + 1 };
  }
  return undefined;
}

/**
 * Read a body-only `ProcessingRequest` (see the module doc); `undefined` when the message is anything else and
 * must take the general path.
 */
export function readBodyMessage(buf: Buffer): ProcessingRequest | undefined {
  const caseOf = BODY_CASE_BY_TAG.get(buf[0] ?? -1);
  if (caseOf === undefined) return undefined;
  const length = readVarint(buf, 1, buf.length);
  if (length === undefined || length.next + length.value !== buf.length) return undefined;
  let at = length.next;
  const end = buf.length;
  let body: Buffer | undefined;
  let endOfStream: boolean | undefined;
  while (at < end) {
    const tag = buf[at];
    if (tag === TAG_BODY && body === undefined) {
      const n = readVarint(buf, at + 1, end);
      if (n === undefined || n.next + n.value > end) return undefined;
      body = buf.subarray(n.next, n.next + n.value);
      at = n.next + n.value;
    } else if (tag === TAG_END_OF_STREAM && endOfStream === undefined) {
      const v = buf[at + 1];
      if (v !== 0 && v !== 1) return undefined; // absent (truncated) or not the canonical one-byte bool
      endOfStream = v === 1;
      at += 2;
    } else {
      return undefined;
    }
  }
  const httpBody: { body?: Buffer; end_of_stream?: boolean } = {};
  if (body !== undefined) httpBody.body = body;
  if (endOfStream !== undefined) httpBody.end_of_stream = endOfStream;
  return { [caseOf]: httpBody, request: caseOf };
}

/** `definition` with the shortcuts above around its `Process` codec. The definition itself is not changed. */
export function withFastCodec(definition: ExtProcServiceDefinition): ExtProcServiceDefinition {
  const method: grpc.MethodDefinition<ProcessingRequest, ProcessingResponse> = definition.Process;
  const serialize = method.responseSerialize;
  const deserialize = method.requestDeserialize;
  const encoded = new Map<ProcessingResponse, Buffer>();
  for (const reply of CONSTANT_REPLIES) encoded.set(reply, serialize(reply));
  return {
    ...definition,
    Process: {
      ...method,
      responseSerialize: (reply: ProcessingResponse): Buffer => encoded.get(reply) ?? serialize(reply),
      requestDeserialize: (bytes: Buffer): ProcessingRequest => readBodyMessage(bytes) ?? deserialize(bytes),
    },
  };
}
