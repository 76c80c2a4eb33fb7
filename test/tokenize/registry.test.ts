/**
 * Registry: default and per-model specifications, the YAML file, caching, and validation errors.
 */
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { createTokenizerRegistry } from "../../src/tokenize";
import type { TokenizerRegistryOptions } from "../../src/tokenize";
import { writeByteLevelTokenizer } from "./synthetic";
import { scratchDir } from "../support/scratch-dir";

function yamlFile(text: string): string {
  const file = join(scratchDir("kvroute-tokcfg-"), "tokenizers.yaml");
  writeFileSync(file, text);
  return file;
}

function create(options: Partial<TokenizerRegistryOptions>): ReturnType<typeof createTokenizerRegistry> {
  return createTokenizerRegistry({ defaultSpec: "character", workers: 0, ...options });
}

describe("createTokenizerRegistry", () => {
  it("uses the default and per-model specs, caching one tokenizer per model", async () => {
    const hf = writeByteLevelTokenizer({ he: 256 }, ["h e"]);
    const file = yamlFile(`models:\n  gpt:\n    type: tiktoken\n  tiny:\n    type: hf\n    path: ${hf}\n`);
    const registry = create({
      configPath: file,
      perModel: { other: "tiktoken", gpt: { type: "character" } },
    });
    expect(registry.specFor("anything")).toEqual({ type: "character" });
    expect(registry.specFor("gpt")).toEqual({ type: "character" }); // perModel overrides the file
    expect(registry.specFor("tiny")).toEqual({ type: "hf", path: hf });
    // The string form, resolved but not loaded: cl100k_base costs ~0.3 s of CPU (encoders.test.ts encodes with it).
    expect(registry.specFor("other")).toEqual({ type: "tiktoken" });
    expect(Array.from(await registry.forModel("anything").encode("hi"))).toEqual([104, 105]);
    expect(Array.from(await registry.forModel("tiny").encode("hey"))).toEqual([256, 121]);
    expect(registry.forModel("tiny")).toBe(registry.forModel("tiny"));
    expect(registry.forModel("tiny").name).toBe(`hf:${hf}`);
    expect(registry.forModel("anything").encodeChat).toBeUndefined();
    await registry.close();
    await registry.close();
    expect(() => registry.forModel("x")).toThrow(/closed/);
  });

  it("parses hf:<path> as the default", async () => {
    const hf = writeByteLevelTokenizer({ he: 256 }, ["h e"]);
    const registry = create({ defaultSpec: `hf:${hf}` });
    expect(registry.forModel("m").name).toBe(`hf:${hf}`);
    await registry.close();
  });

  it.each([
    [{ defaultSpec: "bpe" }, /tokenizer default: unknown tokenizer "bpe"/],
    [
      { defaultSpec: "hf:/nope/tokenizer.json" },
      /tokenizer default: field "path": \/nope\/tokenizer.json does not exist/,
    ],
    [{ perModel: { m1: { type: "hf" } } }, /model "m1": field "path" is required for type hf/],
    [{ perModel: { m2: { type: "magic" } } }, /model "m2": field "type" must be one of/],
    [
      // loopback-check: not-dialled (an invalid spec, rejected before any use)
      { perModel: { m3: { type: "remote", endpoint: "127.0.0.1" } } },
      /model "m3": field "endpoint" must be an http/,
    ],
    [
      { perModel: { m4: { type: "character", path: "/x" } } },
      /model "m4": field "path" is only valid for type hf/,
    ],
    [{ perModel: { m5: { type: "tiktoken", colour: "red" } } }, /model "m5": unknown field "colour"/],
  ])("rejects a bad spec %#", (options, message) => {
    expect(() => create(options as Partial<TokenizerRegistryOptions>)).toThrow(message);
  });

  it("names the file, model and field for a bad YAML config", () => {
    const file = yamlFile("models:\n  llama:\n    type: hf\n");
    expect(() => create({ configPath: file })).toThrow(
      `tokenizer config ${file}: model "llama": field "path"`,
    );
    const list = yamlFile("models: [1, 2]\n");
    expect(() => create({ configPath: list })).toThrow(/field "models" must be a mapping/);
    const broken = yamlFile("models: {a: [\n");
    expect(() => create({ configPath: broken })).toThrow(/tokenizer config/);
  });
});
