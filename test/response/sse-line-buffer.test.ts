import { createSseLineBuffer } from "../../src/response";

const enc = new TextEncoder();
const bytes = (s: string): Uint8Array => enc.encode(s);

/** Pushes every chunk, then flushes; returns all lines and the dropped count. */
function run(chunks: readonly Uint8Array[], maxLineBytes = 1024): { lines: string[]; dropped: number } {
  const buf = createSseLineBuffer(maxLineBytes);
  const lines: string[] = [];
  for (const c of chunks) lines.push(...buf.push(c));
  lines.push(...buf.flush());
  return { lines, dropped: buf.droppedLines };
}

/** Every split of `data` into two chunks (including empty first/second chunks). */
function twoWaySplits(data: Uint8Array): Uint8Array[][] {
  const out: Uint8Array[][] = [];
  for (let i = 0; i <= data.byteLength; i += 1) out.push([data.subarray(0, i), data.subarray(i)]);
  return out;
}

function oneByteChunks(data: Uint8Array): Uint8Array[] {
  return Array.from(data, (_, i) => data.subarray(i, i + 1));
}

describe("createSseLineBuffer", () => {
  const cases: readonly { name: string; text: string; expected: string[] }[] = [
    { name: "LF endings", text: "a\nbb\n\nccc\n", expected: ["a", "bb", "", "ccc"] },
    { name: "CRLF endings", text: "a\r\nbb\r\n\r\nccc\r\n", expected: ["a", "bb", "", "ccc"] },
    { name: "unterminated last line", text: "a\nlast", expected: ["a", "last"] },
    { name: "unterminated last line with CR", text: "a\nlast\r", expected: ["a", "last"] },
    { name: "only the first trailing CR is stripped", text: "x\r\r\n", expected: ["x\r"] },
    { name: "CR inside a line is kept", text: "a\rb\n", expected: ["a\rb"] },
    { name: "two-byte UTF-8", text: "data: café\n", expected: ["data: café"] },
    { name: "three-byte UTF-8", text: "€uro\n€\n", expected: ["€uro", "€"] },
    { name: "four-byte UTF-8 (emoji)", text: "😀 ok 👍🏽\n", expected: ["😀 ok 👍🏽"] },
    { name: "empty input", text: "", expected: [] },
  ];

  it.each(cases)("$name: whole, every 2-way split and 1-byte chunks agree", ({ text, expected }) => {
    const data = bytes(text);
    expect(run([data]).lines).toEqual(expected);
    for (const split of twoWaySplits(data)) expect(run(split).lines).toEqual(expected);
    expect(run(oneByteChunks(data)).lines).toEqual(expected);
  });

  it("returns a line as soon as its newline arrives, and keeps the partial line", () => {
    const buf = createSseLineBuffer(100);
    expect(buf.push(bytes("ab"))).toEqual([]);
    expect(buf.bufferedBytes).toBe(2);
    expect(buf.push(bytes("c\nd"))).toEqual(["abc"]);
    expect(buf.bufferedBytes).toBe(1);
    expect(buf.push(bytes("\n"))).toEqual(["d"]);
    expect(buf.bufferedBytes).toBe(0);
    expect(buf.flush()).toEqual([]);
  });

  it("copies the partial line, so the caller may reuse its chunk buffer", () => {
    const buf = createSseLineBuffer(100);
    const chunk = bytes("abc");
    expect(buf.push(chunk)).toEqual([]);
    chunk.fill(0x7a); // "zzz"
    expect(buf.push(bytes("\n"))).toEqual(["abc"]);
  });

  it("flush empties the buffer", () => {
    const buf = createSseLineBuffer(100);
    buf.push(bytes("tail"));
    expect(buf.flush()).toEqual(["tail"]);
    expect(buf.flush()).toEqual([]);
  });

  describe("over-long lines", () => {
    const long = "x".repeat(20);
    const cases: readonly { name: string; text: string; max: number; expected: string[]; dropped: number }[] =
      [
        {
          name: "a line at the limit is kept",
          text: `${"y".repeat(8)}\nz\n`,
          max: 8,
          expected: ["y".repeat(8), "z"],
          dropped: 0,
        },
        {
          name: "one byte over is dropped",
          text: `${"y".repeat(9)}\nz\n`,
          max: 8,
          expected: ["z"],
          dropped: 1,
        },
        {
          name: "CR counts towards the limit",
          text: `${"y".repeat(8)}\r\nz\n`,
          max: 8,
          expected: ["z"],
          dropped: 1,
        },
        {
          name: "dropped mid-stream, neighbours kept",
          text: `a\n${long}\nb\n`,
          max: 8,
          expected: ["a", "b"],
          dropped: 1,
        },
        { name: "two long lines", text: `${long}\n${long}\nc\n`, max: 8, expected: ["c"], dropped: 2 },
        { name: "long unterminated last line", text: `a\n${long}`, max: 8, expected: ["a"], dropped: 1 },
      ];

    it.each(cases)("$name (whole, every split, 1-byte chunks)", ({ text, max, expected, dropped }) => {
      const data = bytes(text);
      const outcomes = [[data], ...twoWaySplits(data), oneByteChunks(data)].map((c) => run(c, max));
      for (const o of outcomes) expect(o).toEqual({ lines: expected, dropped });
    });

    it("holds at most maxLineBytes while skipping an over-long line", () => {
      const buf = createSseLineBuffer(8);
      for (let i = 0; i < 200; i += 1) {
        expect(buf.push(bytes("0123456789"))).toEqual([]);
        expect(buf.bufferedBytes).toBeLessThanOrEqual(8);
      }
      expect(buf.droppedLines).toBe(1);
      expect(buf.push(bytes("\nok\n"))).toEqual(["ok"]);
      expect(buf.droppedLines).toBe(1);
    });
  });

  it.each([0, -1, 1.5, Number.NaN])("rejects maxLineBytes %p", (max) => {
    expect(() => createSseLineBuffer(max)).toThrow(RangeError);
  });
});
