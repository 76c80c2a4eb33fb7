/**
 * A msgpack reader over one payload, for {@link decodeBatchFast}: primitive reads that either return what the
 * generic decoder would build or throw {@link BAIL} ("not on the fast path": the generic decoder decides).
 *
 * @module
 */

/** Thrown to unwind to "not on the fast path" (a symbol: no stack trace per bail-out). */
export const BAIL = Symbol("bail");

/**
 * Deepest nesting {@link MsgpackCursor.value} reads before bailing: the recursion must not overflow the stack on a
 * hostile payload (a `RangeError` is not a bail-out and escaped `decodeBatch`). Well under the generic path's
 * `MAX_MSGPACK_DEPTH`, so whatever this path accepts, the generic one accepts too.
 */
export const MAX_VALUE_DEPTH = 16;

/** Position and bytes of the payload being read (reset per payload; decoding is synchronous). */
export class MsgpackCursor {
  buf: Uint8Array = new Uint8Array(0);
  view = new DataView(this.buf.buffer);
  pos = 0;
  end = 0;

  /** Start reading `payload`. */
  reset(payload: Uint8Array): void {
    this.buf = payload;
    this.view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
    this.pos = 0;
    this.end = payload.length;
  }

  /** Drop the payload (so the reader does not keep it alive). */
  release(): void {
    this.buf = new Uint8Array(0);
    this.view = new DataView(this.buf.buffer);
  }

  /** The next byte is nil (0xc0); consumes it when so. */
  nil(): boolean {
    if (this.pos < this.end && this.buf[this.pos] === 0xc0) {
      this.pos++;
      return true;
    }
    return false;
  }

  /** Bail unless `n` more bytes are there. */
  need(n: number): void {
    if (this.pos + n > this.end) throw BAIL;
  }

  /** One byte. */
  u8(): number {
    if (this.pos >= this.end) throw BAIL;
    return this.buf[this.pos++] as number;
  }

  /**
   * Length of an array whose header starts at `this.pos`. Bails when it claims more elements than there are bytes
   * left (each takes at least one): callers allocate for the length, which must be backed by the payload's bytes.
   */
  arrayLength(): number {
    const b = this.u8();
    let n: number;
    if (b >= 0x90 && b <= 0x9f) n = b - 0x90;
    else if (b === 0xdc) {
      this.need(2);
      this.pos += 2;
      n = this.view.getUint16(this.pos - 2);
    } else if (b === 0xdd) {
      this.need(4);
      this.pos += 4;
      n = this.view.getUint32(this.pos - 4);
    } else throw BAIL;
    if (n > this.end - this.pos) throw BAIL;
    return n;
  }

  /** An ASCII string whose header byte `b` was read; bails on anything else (the generic UTF-8 decoder decides). */
  asciiAfter(b: number): string {
    let n: number;
    if (b >= 0xa0 && b <= 0xbf) n = b - 0xa0;
    else if (b === 0xd9) n = this.u8();
    else if (b === 0xda) {
      this.need(2);
      n = this.view.getUint16(this.pos);
      this.pos += 2;
    } else throw BAIL;
    this.need(n);
    let s = "";
    for (let i = this.pos; i < this.pos + n; i++) {
      const c = this.buf[i] as number;
      if (c >= 0x80) throw BAIL;
      s += String.fromCharCode(c);
    }
    this.pos += n;
    return s;
  }

  /** A msgpack integer or float (not 64-bit integers) after header byte `b`; bails on other types. */
  numberAfter(b: number): number {
    if (b <= 0x7f) return b;
    if (b >= 0xe0) return b - 0x100;
    switch (b) {
      case 0xcc:
        return this.u8();
      case 0xcd:
        this.need(2);
        this.pos += 2;
        return this.view.getUint16(this.pos - 2);
      case 0xce:
        this.need(4);
        this.pos += 4;
        return this.view.getUint32(this.pos - 4);
      case 0xd0:
        this.need(1);
        return this.view.getInt8(this.pos++);
      case 0xd1:
        this.need(2);
        this.pos += 2;
        return this.view.getInt16(this.pos - 2);
      case 0xd2:
        this.need(4);
        this.pos += 4;
        return this.view.getInt32(this.pos - 4);
      case 0xca:
        this.need(4);
        this.pos += 4;
        return this.view.getFloat32(this.pos - 4);
      case 0xcb:
        this.need(8);
        this.pos += 8;
        return this.view.getFloat64(this.pos - 8);
      default:
        throw BAIL;
    }
  }

  /** A msgpack 64-bit integer after header byte `b` (0xcf / 0xd3) as the generic decoder gives it: a bigint. */
  bigAfter(b: number): bigint {
    this.need(8);
    this.pos += 8;
    return b === 0xcf ? this.view.getBigUint64(this.pos - 8) : this.view.getBigInt64(this.pos - 8);
  }

  /**
   * Any value of the kinds the generic decoder builds plainly (nil, bool, numbers, ASCII strings, arrays), nested
   * at most {@link MAX_VALUE_DEPTH} deep. Arrays grow by what is read, not by what their header claims.
   */
  value(depth = 0): unknown {
    const b = this.u8();
    if (b === 0xc0) return null;
    if (b === 0xc2) return false;
    if (b === 0xc3) return true;
    if (b === 0xcf || b === 0xd3) return this.bigAfter(b);
    if ((b >= 0xa0 && b <= 0xbf) || b === 0xd9 || b === 0xda) return this.asciiAfter(b);
    if ((b >= 0x90 && b <= 0x9f) || b === 0xdc || b === 0xdd) {
      if (depth >= MAX_VALUE_DEPTH) throw BAIL;
      this.pos--;
      const n = this.arrayLength();
      const out: unknown[] = [];
      for (let i = 0; i < n; i++) out.push(this.value(depth + 1));
      return out;
    }
    return this.numberAfter(b);
  }
}
