/**
 * `character` and `tiktoken` encoders, and the HF fast path's eligibility rules on tiny synthetic vocabularies.
 */
import { characterEncoder, tiktokenEncoder } from "../../src/tokenize/encoder";
import { loadHfEncoder, loadHfEncoders } from "../../src/tokenize/hf";
import { writeByteLevelTokenizer } from "./synthetic";

describe("character", () => {
  it("gives the UTF-8 bytes as ids", () => {
    const enc = characterEncoder();
    expect(Array.from(enc.encode("hé€"))).toEqual([0x68, 0xc3, 0xa9, 0xe2, 0x82, 0xac]);
    expect(enc.encode("")).toHaveLength(0);
  });
});

describe("tiktoken cl100k_base", () => {
  const enc = tiktokenEncoder();
  afterAll(() => enc.free?.());

  it("encodes known ids", () => {
    expect(Array.from(enc.encode("hello world"))).toEqual([15339, 1917]);
    expect(enc.name).toBe("tiktoken:cl100k_base");
  });

  it("treats special-token text as ordinary text", () => {
    expect(Array.from(enc.encode("<|endoftext|>")).length).toBeGreaterThan(1);
  });
});

describe("HF fast path eligibility", () => {
  it("uses tiktoken when merge order equals rank order and the check passes", () => {
    const file = writeByteLevelTokenizer({ he: 256, ll: 257, hell: 258 }, ["h e", "l l", "he ll"]);
    const enc = loadHfEncoder(file);
    expect(enc.engine).toBe("tiktoken");
    expect(Array.from(enc.encode("hello"))).toEqual([258, 111]);
    expect(Array.from(enc.encode("a<|end|>b"))).toEqual([97, 300, 98]);
    expect(enc.renderChat).toBeUndefined();
    enc.free?.();
  });

  it("builds tokens longer than its scratch buffer (64 characters) into the fast path", () => {
    // "a" doubled up to 128 characters, each merge in rank order: a long run merges as Hugging Face's BPE does.
    const extra: Record<string, number> = {};
    const merges: string[] = [];
    for (let n = 2, id = 256; n <= 128; n *= 2, id++) {
      extra["a".repeat(n)] = id;
      merges.push(`${"a".repeat(n / 2)} ${"a".repeat(n / 2)}`);
    }
    const { chosen, general } = loadHfEncoders(writeByteLevelTokenizer(extra, merges));
    expect(chosen.engine).toBe("tiktoken");
    const run = "a".repeat(200); // 128 + 64 + 8
    expect(Array.from(chosen.encode(run))).toEqual([262, 261, 258]);
    expect(Array.from(general.encode(run))).toEqual([262, 261, 258]);
    chosen.free?.();
  });

  it.each([
    ["a space (a code unit the byte map leaves out)", "a b"],
    ["a character beyond the byte map", "\u4e2d"],
    ["a surrogate pair", "\u{1f600}"],
  ])("falls back when a token holds %s: the vocabulary is not byte-level", (_what, token) => {
    const enc = loadHfEncoder(writeByteLevelTokenizer({ [token]: 256 }, []));
    expect(enc.engine).toBe("hf");
    expect(enc.fallbackReason).toBe("vocabulary is not byte-level");
  });

  it("falls back to @huggingface/tokenizers when merge order differs from rank order", () => {
    const file = writeByteLevelTokenizer({ he: 257, ll: 256 }, ["h e", "l l"]);
    const logged: unknown[] = [];
    const { chosen: enc, general } = loadHfEncoders(file, { log: (_msg, fields) => logged.push(fields) });
    expect(general).toBe(enc); // no fast path: the general encoder is the one chosen
    expect(enc.engine).toBe("hf");
    expect(enc.fallbackReason).toBe("merge order differs from rank order");
    expect(logged).toEqual([expect.objectContaining({ reason: "merge order differs from rank order" })]);
    expect(Array.from(enc.encode("hello"))).toEqual([257, 256, 111]);
  });

  it("falls back when the built encoder differs on the built-in sample", () => {
    // "qu" is a token without a merge: tiktoken would join it, the HF BPE cannot.
    const file = writeByteLevelTokenizer({ he: 256, qu: 257 }, ["h e"]);
    const enc = loadHfEncoder(file);
    expect(enc.engine).toBe("hf");
    expect(enc.fallbackReason).toMatch(/^fast path differs on sample #\d+$/);
    expect(Array.from(enc.encode("quhe"))).toEqual([113, 117, 256]);
  });
});
