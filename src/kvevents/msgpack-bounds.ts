/**
 * A check of a msgpack value's structure before a decoder builds it: every array and map is nested at most
 * {@link MAX_MSGPACK_DEPTH} deep and claims no more elements than there are bytes left to hold them.
 *
 * Why: decoders allocate an array for the length its header claims before reading the elements. A 3-byte
 * `array16` header claiming 65 535 elements costs ~256 KiB, and a payload of a few thousand such headers nested in
 * each other made the generic decoder (`@msgpack/msgpack`, which has no depth limit) hold gigabytes before it found
 * the payload truncated; deep nesting overflowed the stack of a recursive reader. Both are input a hostile or
 * broken engine controls. With every claim checked against the bytes left (each element takes at least one byte)
 * and the depth capped, what a decoder allocates is bounded by the payload's size times the depth.
 *
 * The walk is iterative, allocates nothing proportional to the input, and reads only headers and lengths (scalars
 * and strings are skipped, not decoded). It checks the first value only: trailing bytes are the decoder's to report.
 *
 * @module
 */

/** Deepest nesting of arrays and maps accepted (a `KVEventBatch` is 5–6 deep, extra keys included). */
export const MAX_MSGPACK_DEPTH = 64;

/** Bytes after the header byte for fixed-size types, by header byte (0 = not fixed-size or no payload). */
function fixedSize(b: number): number {
  switch (b) {
    case 0xcc:
    case 0xd0:
      return 1;
    case 0xcd:
    case 0xd1:
    case 0xd4: // fixext 1: type + 1
      return 2;
    case 0xd5: // fixext 2
      return 3;
    case 0xca:
    case 0xce:
    case 0xd2:
      return 4;
    case 0xd6: // fixext 4
      return 5;
    case 0xcb:
    case 0xcf:
    case 0xd3:
      return 8;
    case 0xd7: // fixext 8
      return 9;
    case 0xd8: // fixext 16
      return 17;
    default:
      return 0;
  }
}

/**
 * Why the first msgpack value of `payload` would make a decoder allocate for claims the bytes cannot back, or
 * recurse too deep; `undefined` when its structure is sound. Malformed-but-harmless input (a reserved type code,
 * truncation in a scalar) is also reported: nothing would decode it.
 */
export function msgpackBoundsProblem(payload: Uint8Array, maxDepth = MAX_MSGPACK_DEPTH): string | undefined {
  const view = new DataView(payload.buffer, payload.byteOffset, payload.byteLength);
  const end = payload.length;
  /** Elements still to read in each open array or map (a map's entries count twice: key and value). */
  const left: number[] = [1];
  let pos = 0;
  while (left.length > 0) {
    const top = left.length - 1;
    if (left[top] === 0) {
      left.pop();
      continue;
    }
    left[top] = (left[top] as number) - 1;
    if (pos >= end) return "truncated";
    const b = payload[pos++] as number;
    let items = -1; // elements of a container header, or -1
    let skip = 0; // bytes of a scalar or string body
    if (b <= 0x7f || b >= 0xe0 || b === 0xc0 || b === 0xc2 || b === 0xc3) skip = 0;
    else if (b >= 0x80 && b <= 0x8f) items = 2 * (b - 0x80);
    else if (b >= 0x90 && b <= 0x9f) items = b - 0x90;
    else if (b >= 0xa0 && b <= 0xbf) skip = b - 0xa0;
    else if (b === 0xc4 || b === 0xd9 || b === 0xc7) {
      if (pos + 1 > end) return "truncated";
      skip = (payload[pos] as number) + (b === 0xc7 ? 2 : 1);
    } else if (b === 0xc5 || b === 0xda || b === 0xc8) {
      if (pos + 2 > end) return "truncated";
      skip = view.getUint16(pos) + (b === 0xc8 ? 3 : 2);
    } else if (b === 0xc6 || b === 0xdb || b === 0xc9) {
      if (pos + 4 > end) return "truncated";
      skip = view.getUint32(pos) + (b === 0xc9 ? 5 : 4);
    } else if (b === 0xdc || b === 0xde) {
      if (pos + 2 > end) return "truncated";
      items = view.getUint16(pos) * (b === 0xde ? 2 : 1);
      pos += 2;
    } else if (b === 0xdd || b === 0xdf) {
      if (pos + 4 > end) return "truncated";
      items = view.getUint32(pos) * (b === 0xdf ? 2 : 1);
      pos += 4;
    } else {
      skip = fixedSize(b);
      if (skip === 0) return `reserved type 0x${b.toString(16)}`;
    }
    if (items < 0) {
      if (pos + skip > end) return "truncated";
      pos += skip;
      continue;
    }
    if (items > end - pos) return `a container claims ${items} elements with ${end - pos} bytes left`;
    if (items > 0) {
      if (left.length >= maxDepth + 1) return `nested deeper than ${maxDepth}`;
      left.push(items);
    }
  }
  return undefined;
}
