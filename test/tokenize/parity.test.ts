/**
 * Parity of the Hugging Face encoders with the Rust `tokenizers` (the oracle, `@anush008/tokenizers`) on Qwen3:
 * crafted strings, 300 seeded random multilingual strings, and chat-template render + encode.
 */
import { Tokenizer as RustTokenizer } from "@anush008/tokenizers";
import { loadHfEncoders } from "../../src/tokenize/hf";
import type { HfEncoder } from "../../src/tokenize/hf";
import { CRAFTED_SAMPLES, randomSamples } from "../../src/tokenize/parity-sample";
import type { ChatMessage } from "../../src/tokenize";
import { QWEN3_TOKENIZER_JSON } from "./fixtures";

jest.setTimeout(60_000);

let rust: RustTokenizer;
let fast: HfEncoder;
let general: HfEncoder;
const decisions: string[] = [];

beforeAll(() => {
  rust = RustTokenizer.fromFile(QWEN3_TOKENIZER_JSON);
  // One load gives both encoders: a second (`fastPath: false`) would parse the 11 MB file and build the general
  // tokenizer again, ~0.6 s of CPU for the same general encoder.
  ({ chosen: fast, general } = loadHfEncoders(QWEN3_TOKENIZER_JSON, { log: (msg) => decisions.push(msg) }));
});

afterAll(() => fast.free?.());

async function oracle(text: string): Promise<number[]> {
  return (await rust.encode(text, null, { addSpecialTokens: false })).getIds();
}

/** Indexes of `texts` where either encoder differs from the oracle. */
async function mismatches(texts: readonly string[]): Promise<number[]> {
  const bad: number[] = [];
  for (const [i, text] of texts.entries()) {
    const want = await oracle(text);
    if (!sameIds(fast.encode(text), want) || !sameIds(general.encode(text), want)) bad.push(i);
  }
  return bad;
}

function sameIds(got: Uint32Array, want: readonly number[]): boolean {
  return got.length === want.length && want.every((id, i) => got[i] === id);
}

describe("Qwen3 tokenizer.json", () => {
  it("uses the tiktoken fast path after its load-time check", () => {
    expect(fast.engine).toBe("tiktoken");
    expect(general.engine).toBe("hf");
    expect(decisions).toEqual(["tokenizer: using the tiktoken fast path"]);
  });

  it("matches the Rust oracle on crafted strings", async () => {
    const extra = [
      "",
      " ",
      "\u00e9 vs e\u0301",
      "A\u030a\u0301\u0323",
      "x<|im_start|>y<|im_end|>z",
      "```ts\nconst x = 1;\n```",
      "   \n\t  \r\n",
      "１２３ 99999999999",
    ];
    expect(await mismatches([...CRAFTED_SAMPLES, ...extra])).toEqual([]);
  });

  it("matches the Rust oracle on 300 seeded random multilingual strings", async () => {
    expect(await mismatches(randomSamples(300, 42))).toEqual([]);
  });

  it("parses special-token text as the special id, like the engine", () => {
    expect(Array.from(fast.encode("<|im_start|>"))).toEqual([151644]);
    expect(Array.from(general.encode("<|im_start|>"))).toEqual([151644]);
  });

  it("applies NFC like the normalizer (decomposed and composed forms encode alike)", () => {
    expect(Array.from(fast.encode("Cafe\u0301"))).toEqual(Array.from(fast.encode("Caf\u00e9")));
  });

  it("renders the chat template and encodes it as the oracle does", async () => {
    const messages: ChatMessage[] = [
      { role: "system", content: "You are helpful." },
      { role: "user", content: "Hello! 你好 👋" },
      { role: "assistant", content: "Hi there." },
      { role: "user", content: "Explain <think> tags, e\u0301 too." },
    ];
    const render = fast.renderChat;
    expect(render).toBeDefined();
    const text = render?.(messages) ?? "";
    expect(text.startsWith("<|im_start|>system\nYou are helpful.<|im_end|>\n<|im_start|>user\n")).toBe(true);
    expect(text.endsWith("<|im_start|>assistant\n")).toBe(true);
    const want = await oracle(text);
    expect(Array.from(fast.encode(text))).toEqual(want);
    expect(Array.from(general.encode(text))).toEqual(want);
    expect(want.filter((id) => id === 151644)).toHaveLength(5); // one <|im_start|> per turn + generation prompt
  });
});
