/**
 * kvroute's block-key chain (`block-hasher.ts`) as one small WebAssembly function, so a whole chain costs one call
 * from JavaScript: the tokens are copied into the module's memory once, every block is hashed inside it, and the
 * keys are read back as a block of 64-bit words. No BigInt is created per block (the per-block `xxhash-wasm` call
 * converted a BigInt seed in and allocated two BigInts out).
 *
 * The module is assembled here, byte by byte, from the XXH64 specification
 * (https://github.com/Cyan4973/xxHash/blob/dev/doc/xxhash_spec.md): `xxh64(ptr, len, seed)` and
 * `chain(tokens, n, blockSize, out)`, which for block i hashes `LE64(prev) ‖ tokens[iB, iB+B)` with the seed and
 * stores the key at `out + 8i`. Seed and first parent are read from memory words 0 and 1. Its results are checked against `xxhash-wasm` by the block-hasher tests.
 *
 * @module
 */

const P1 = 0x9e3779b185ebca87n;
const P2 = 0xc2b2ae3d27d4eb4fn;
const P3 = 0x165667b19e3779f9n;
const P4 = 0x85ebca77c2b2ae63n;
const P5 = 0x27d4eb2f165667c5n;

/** Opcodes used below (WebAssembly core spec, binary format). */
const OP = {
  block: 0x02,
  loop: 0x03,
  if: 0x04,
  else: 0x05,
  end: 0x0b,
  br: 0x0c,
  brIf: 0x0d,
  call: 0x10,
  get: 0x20,
  set: 0x21,
  i64Load: 0x29,
  i64Load8U: 0x31,
  i64Load32U: 0x35,
  i64Store: 0x37,
  i32Const: 0x41,
  i64Const: 0x42,
  i32GeU: 0x4f,
  i32GtU: 0x4b,
  i32LeU: 0x4d,
  i32Add: 0x6a,
  i32Sub: 0x6b,
  i32Mul: 0x6c,
  i64Add: 0x7c,
  i64Sub: 0x7d,
  i64Mul: 0x7e,
  i64Xor: 0x85,
  i64ShrU: 0x88,
  i64Rotl: 0x89,
  i64ExtendI32U: 0xad,
} as const;
const VOID = 0x40;
const I32 = 0x7f;
const I64 = 0x7e;

function uleb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n >>>= 7;
    if (n !== 0) b |= 0x80;
    out.push(b);
  } while (n !== 0);
  return out;
}

function sleb64(v: bigint): number[] {
  let x = BigInt.asIntN(64, v);
  const out: number[] = [];
  for (;;) {
    const b = Number(x & 0x7fn);
    x >>= 7n;
    if ((x === 0n && (b & 0x40) === 0) || (x === -1n && (b & 0x40) !== 0)) {
      out.push(b);
      return out;
    }
    out.push(b | 0x80);
  }
}

const get = (i: number): number[] => [OP.get, i];
const set = (i: number): number[] => [OP.set, i];
const c64 = (v: bigint): number[] => [OP.i64Const, ...sleb64(v)];
const c32 = (v: number): number[] => [OP.i32Const, ...sleb64(BigInt(v))];
/** `i64.load offset=o` (align 8). */
const load64 = (o: number): number[] => [OP.i64Load, 3, ...uleb(o)];

/** `acc = rotl(acc + lane × P2, 31) × P1`, the lane already on the stack. */
const roundInto = (acc: number): number[] => [
  ...c64(P2),
  OP.i64Mul,
  ...get(acc),
  OP.i64Add,
  ...c64(31n),
  OP.i64Rotl,
  ...c64(P1),
  OP.i64Mul,
  ...set(acc),
];
/** `round(0, lane)` = `rotl(lane × P2, 31) × P1`, the lane on the stack, the result left on it. */
const round0 = (): number[] => [...c64(P2), OP.i64Mul, ...c64(31n), OP.i64Rotl, ...c64(P1), OP.i64Mul];

/** `xxh64(ptr: i32, len: i32, seed: i64) -> i64`. Locals: 3 end, 4 limit, 5–8 v1–v4, 9 h. */
function xxh64Body(): number[] {
  const [ptr, len, seed, end, limit, v1, v2, v3, v4, h] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9];
  const merge = (v: number): number[] => [
    ...get(h),
    ...get(v),
    ...round0(),
    OP.i64Xor,
    ...c64(P1),
    OP.i64Mul,
    ...c64(P4),
    OP.i64Add,
    ...set(h),
  ];
  const rot = (v: number, r: bigint): number[] => [...get(v), ...c64(r), OP.i64Rotl];
  const code = [
    ...[...get(ptr), ...get(len), OP.i32Add, ...set(end)],
    ...[...get(len), ...c32(32), OP.i32GeU, OP.if, VOID],
    ...[...get(end), ...c32(32), OP.i32Sub, ...set(limit)],
    ...[...get(seed), ...c64(P1), OP.i64Add, ...c64(P2), OP.i64Add, ...set(v1)],
    ...[...get(seed), ...c64(P2), OP.i64Add, ...set(v2)],
    ...[...get(seed), ...set(v3)],
    ...[...get(seed), ...c64(P1), OP.i64Sub, ...set(v4)],
    ...[OP.loop, VOID],
    ...[...get(ptr), ...load64(0), ...roundInto(v1)],
    ...[...get(ptr), ...load64(8), ...roundInto(v2)],
    ...[...get(ptr), ...load64(16), ...roundInto(v3)],
    ...[...get(ptr), ...load64(24), ...roundInto(v4)],
    ...[...get(ptr), ...c32(32), OP.i32Add, ...set(ptr)],
    ...[...get(ptr), ...get(limit), OP.i32LeU, OP.brIf, 0, OP.end],
    ...[
      ...rot(v1, 1n),
      ...rot(v2, 7n),
      OP.i64Add,
      ...rot(v3, 12n),
      OP.i64Add,
      ...rot(v4, 18n),
      OP.i64Add,
      ...set(h),
    ],
    ...[...merge(v1), ...merge(v2), ...merge(v3), ...merge(v4)],
    ...[OP.else, ...get(seed), ...c64(P5), OP.i64Add, ...set(h), OP.end],
    ...[...get(h), ...get(len), OP.i64ExtendI32U, OP.i64Add, ...set(h)],
    // 8-byte lanes
    ...[OP.block, VOID, OP.loop, VOID],
    ...[...get(ptr), ...c32(8), OP.i32Add, ...get(end), OP.i32GtU, OP.brIf, 1],
    ...[...get(h), ...get(ptr), ...load64(0), ...round0(), OP.i64Xor, ...c64(27n), OP.i64Rotl],
    ...[...c64(P1), OP.i64Mul, ...c64(P4), OP.i64Add, ...set(h)],
    ...[...get(ptr), ...c32(8), OP.i32Add, ...set(ptr), OP.br, 0, OP.end, OP.end],
    // one 4-byte lane
    ...[...get(ptr), ...c32(4), OP.i32Add, ...get(end), OP.i32LeU, OP.if, VOID],
    ...[
      ...get(h),
      ...get(ptr),
      OP.i64Load32U,
      2,
      0,
      ...c64(P1),
      OP.i64Mul,
      OP.i64Xor,
      ...c64(23n),
      OP.i64Rotl,
    ],
    ...[...c64(P2), OP.i64Mul, ...c64(P3), OP.i64Add, ...set(h)],
    ...[...get(ptr), ...c32(4), OP.i32Add, ...set(ptr), OP.end],
    // single bytes
    ...[OP.block, VOID, OP.loop, VOID],
    ...[...get(ptr), ...get(end), OP.i32GeU, OP.brIf, 1],
    ...[
      ...get(h),
      ...get(ptr),
      OP.i64Load8U,
      0,
      0,
      ...c64(P5),
      OP.i64Mul,
      OP.i64Xor,
      ...c64(11n),
      OP.i64Rotl,
    ],
    ...[...c64(P1), OP.i64Mul, ...set(h)],
    ...[...get(ptr), ...c32(1), OP.i32Add, ...set(ptr), OP.br, 0, OP.end, OP.end],
    // avalanche
    ...[...get(h), ...get(h), ...c64(33n), OP.i64ShrU, OP.i64Xor, ...c64(P2), OP.i64Mul, ...set(h)],
    ...[...get(h), ...get(h), ...c64(29n), OP.i64ShrU, OP.i64Xor, ...c64(P3), OP.i64Mul, ...set(h)],
    ...[...get(h), ...get(h), ...c64(32n), OP.i64ShrU, OP.i64Xor],
    OP.end,
  ];
  return [...uleb(2), 2, I32, 5, I64, ...code];
}

/**
 * `chain(tokens, n, blockSize, out)`. Block i's input is built in place: `prev` is stored in the 8 bytes before the
 * block's tokens (the tail of block i − 1, already hashed; for block 0 the caller leaves 8 free bytes), so the
 * input is one contiguous range and nothing is copied. Locals: 4 i, 5 at, 6 prev, 7 seed, 8 bytes (4B).
 */
function chainBody(): number[] {
  const [tokens, n, blockSize, out, i, at, prev, seed, bytes] = [0, 1, 2, 3, 4, 5, 6, 7, 8];
  const code = [
    ...[...c32(0), ...load64(0), ...set(seed), ...c32(0), ...load64(8), ...set(prev)],
    ...[...get(blockSize), ...c32(4), OP.i32Mul, ...set(bytes)],
    ...[OP.block, VOID, OP.loop, VOID],
    ...[...get(i), ...get(n), OP.i32GeU, OP.brIf, 1],
    ...[...get(tokens), ...get(i), ...get(bytes), OP.i32Mul, OP.i32Add, ...c32(8), OP.i32Sub, ...set(at)],
    ...[...get(at), ...get(prev), OP.i64Store, 3, 0],
    ...[...get(at), ...get(bytes), ...c32(8), OP.i32Add, ...get(seed), OP.call, 0, ...set(prev)],
    ...[...get(out), ...get(i), ...c32(8), OP.i32Mul, OP.i32Add, ...get(prev), OP.i64Store, 3, 0],
    ...[...get(i), ...c32(1), OP.i32Add, ...set(i), OP.br, 0, OP.end, OP.end],
    OP.end,
  ];
  return [...uleb(3), 2, I32, 2, I64, 1, I32, ...code];
}

function section(id: number, content: number[]): number[] {
  return [id, ...uleb(content.length), ...content];
}

function name(s: string): number[] {
  return [...uleb(s.length), ...Array.from(s, (c) => c.charCodeAt(0))];
}

/** The module's bytes. */
export function chainModuleBytes(): Uint8Array {
  const types = [2, 0x60, 3, I32, I32, I64, 1, I64, 0x60, 4, I32, I32, I32, I32, 0];
  const bodies = [xxh64Body(), chainBody()];
  const code = [bodies.length, ...bodies.flatMap((b) => [...uleb(b.length), ...b])];
  return new Uint8Array([
    ...[0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00],
    ...section(1, types),
    ...section(3, [2, 0, 1]),
    ...section(5, [1, 0x00, 1]),
    ...section(7, [2, ...name("mem"), 0x02, 0, ...name("chain"), 0x00, 1]),
    ...section(10, code),
  ]);
}

/** The module's memory (the subset of `WebAssembly.Memory` used; the project's `lib` has no DOM/wasm types). */
export interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}

/** The subset of the global `WebAssembly` object used here. */
interface WasmApi {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: Record<string, unknown> };
}

/** The instantiated module. */
export interface ChainModule {
  readonly memory: WasmMemory;
  /** See the module comment; seed and first parent in memory words 0 and 1. */
  readonly chain: (tokens: number, n: number, blockSize: number, out: number) => void;
}

/** Compile and instantiate the module (synchronous: it is a few hundred bytes). */
export function instantiateChainModule(): ChainModule {
  const wasm = (globalThis as unknown as { WebAssembly: WasmApi }).WebAssembly;
  const { exports } = new wasm.Instance(new wasm.Module(chainModuleBytes()));
  return { memory: exports["mem"] as WasmMemory, chain: exports["chain"] as ChainModule["chain"] };
}
