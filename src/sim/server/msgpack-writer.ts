/**
 * A minimal msgpack writer for the KV-event payload. Hand-written rather than `@msgpack/msgpack`'s `encode`
 * because byte compatibility with vLLM (msgspec) needs two things that library cannot be told per value: the
 * batch timestamp is always a float64 (`cb`) even when it happens to be integral, and a `bigint` hash takes the
 * smallest integer form (msgspec writes a hash below 2^32 as `ce`, not `cf`).
 *
 * @module
 */

/** A value the writer can encode. Objects are written as maps in insertion order (msgspec's declaration order). */
export type MsgValue =
  | null
  | boolean
  | number
  | bigint
  | string
  | Float64
  | readonly MsgValue[]
  | { readonly [key: string]: MsgValue };

/** A number that must be written as float64 whatever its value (msgspec `float` fields). */
export class Float64 {
  constructor(readonly value: number) {}
}

const U64_MAX = 0xffffffffffffffffn;

/** Growable byte buffer with big-endian writers. */
class Out {
  private buf = Buffer.allocUnsafe(256);
  private len = 0;

  private reserve(n: number): void {
    if (this.len + n <= this.buf.length) return;
    const next = Buffer.allocUnsafe(Math.max(this.buf.length * 2, this.len + n));
    this.buf.copy(next, 0, 0, this.len);
    this.buf = next;
  }
  u8(v: number): void {
    this.reserve(1);
    this.buf[this.len++] = v;
  }
  u16(v: number): void {
    this.reserve(2);
    this.len = this.buf.writeUInt16BE(v, this.len);
  }
  u32(v: number): void {
    this.reserve(4);
    this.len = this.buf.writeUInt32BE(v, this.len);
  }
  u64(v: bigint): void {
    this.reserve(8);
    this.len = this.buf.writeBigUInt64BE(v, this.len);
  }
  i64(v: bigint): void {
    this.reserve(8);
    this.len = this.buf.writeBigInt64BE(v, this.len);
  }
  f64(v: number): void {
    this.reserve(8);
    this.len = this.buf.writeDoubleBE(v, this.len);
  }
  bytes(b: Buffer): void {
    this.reserve(b.length);
    b.copy(this.buf, this.len);
    this.len += b.length;
  }
  result(): Buffer {
    return Buffer.from(this.buf.subarray(0, this.len));
  }
}

/** Smallest unsigned form of `v` in [0, 2^32). */
function writeU32(out: Out, v: number): void {
  if (v < 0x80) out.u8(v);
  else if (v <= 0xff) {
    out.u8(0xcc);
    out.u8(v);
  } else if (v <= 0xffff) {
    out.u8(0xcd);
    out.u16(v);
  } else {
    out.u8(0xce);
    out.u32(v);
  }
}

function writeInt(out: Out, v: bigint): void {
  if (v >= 0n) {
    if (v > U64_MAX) throw new RangeError("integer above uint64");
    if (v <= 0xffffffffn) writeU32(out, Number(v));
    else {
      out.u8(0xcf);
      out.u64(v);
    }
    return;
  }
  if (v >= -32n) out.u8(Number(v) & 0xff);
  else if (v >= -0x80n) {
    out.u8(0xd0);
    out.u8(Number(v) & 0xff);
  } else if (v >= -0x8000n) {
    out.u8(0xd1);
    out.u16(Number(v) & 0xffff);
  } else if (v >= -0x80000000n) {
    out.u8(0xd2);
    out.u32(Number(v) >>> 0);
  } else if (v >= -(1n << 63n)) {
    out.u8(0xd3);
    out.i64(v);
  } else throw new RangeError("integer below int64");
}

function writeLength(out: Out, n: number, fix: number, fixMax: number, c16: number, c32: number): void {
  if (n <= fixMax) out.u8(fix | n);
  else if (n <= 0xffff) {
    out.u8(c16);
    out.u16(n);
  } else {
    out.u8(c32);
    out.u32(n);
  }
}

function write(out: Out, v: MsgValue): void {
  if (v === null) out.u8(0xc0);
  else if (typeof v === "boolean") out.u8(v ? 0xc3 : 0xc2);
  else if (typeof v === "bigint") writeInt(out, v);
  else if (typeof v === "number") {
    // Token ids are the bulk of a payload: small non-negative ints skip the bigint path.
    if (Number.isInteger(v) && v >= 0 && v <= 0xffffffff) writeU32(out, v);
    else if (Number.isSafeInteger(v)) writeInt(out, BigInt(v));
    else {
      out.u8(0xcb);
      out.f64(v);
    }
  } else if (typeof v === "string") {
    const b = Buffer.from(v, "utf8");
    if (b.length <= 31) out.u8(0xa0 | b.length);
    else if (b.length <= 0xff) {
      out.u8(0xd9);
      out.u8(b.length);
    } else if (b.length <= 0xffff) {
      out.u8(0xda);
      out.u16(b.length);
    } else {
      out.u8(0xdb);
      out.u32(b.length);
    }
    out.bytes(b);
  } else if (v instanceof Float64) {
    out.u8(0xcb);
    out.f64(v.value);
  } else if (Array.isArray(v)) {
    const arr = v as readonly MsgValue[];
    writeLength(out, arr.length, 0x90, 15, 0xdc, 0xdd);
    for (const x of arr) write(out, x);
  } else {
    const entries = Object.entries(v as { readonly [key: string]: MsgValue });
    writeLength(out, entries.length, 0x80, 15, 0xde, 0xdf);
    for (const [k, x] of entries) {
      write(out, k);
      write(out, x);
    }
  }
}

/** Encode one value. Throws RangeError for integers outside int64/uint64. */
export function encodeMsgpack(v: MsgValue): Buffer {
  const out = new Out();
  write(out, v);
  return out.result();
}
