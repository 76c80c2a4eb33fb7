/** Quoting client input: bounded, at a character boundary, with no control characters, whatever the input. */
import { ECHO_CUT_MARKER, MAX_ECHO_BYTES, echoClientText } from "../src/client-echo";

describe("echoClientText", () => {
  it("keeps short, safe text as is (non-ASCII included)", () => {
    expect(echoClientText("llama-3-8b")).toBe("llama-3-8b");
    expect(echoClientText("模型-ü")).toBe("模型-ü");
  });

  it("replaces CR, LF, NUL, TAB, DEL, C1 controls, line separators and lone surrogates", () => {
    expect(echoClientText("a\r\nb\u0000c\td\u007fe\u0085f\u2028g\ud800h\udc00")).toBe(
      "a\uFFFD\uFFFDb\uFFFDc\uFFFDd\uFFFDe\uFFFDf\uFFFDg\uFFFDh\uFFFD",
    );
    // A proper surrogate pair is one character and stays.
    expect(echoClientText("🙂")).toBe("🙂");
  });

  it("cuts long text to the byte bound, ending with the marker", () => {
    const out = echoClientText("m".repeat(2 * 1024 * 1024));
    expect(Buffer.byteLength(out)).toBe(MAX_ECHO_BYTES);
    expect(out.endsWith(ECHO_CUT_MARKER)).toBe(true);
  });

  it("never splits a multi-byte character and never exceeds the bound", () => {
    for (const unit of ["é", "模", "🙂"]) {
      for (let n = 80; n < 140; n++) {
        const out = echoClientText(unit.repeat(n), 100);
        expect(Buffer.byteLength(out)).toBeLessThanOrEqual(100);
        expect(out.includes("\uFFFD")).toBe(false);
        if (Buffer.byteLength(unit.repeat(n)) > 100) expect(out.endsWith(ECHO_CUT_MARKER)).toBe(true);
        else expect(out).toBe(unit.repeat(n));
      }
    }
  });

  it("text exactly at the bound is kept whole", () => {
    expect(echoClientText("x".repeat(MAX_ECHO_BYTES))).toBe("x".repeat(MAX_ECHO_BYTES));
    expect(echoClientText("x".repeat(MAX_ECHO_BYTES + 1)).endsWith(ECHO_CUT_MARKER)).toBe(true);
  });
});
