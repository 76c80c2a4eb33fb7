/**
 * The tokenizer packages, each loaded on first use: importing this area (every server does, for its registry) must
 * not load them. Most fleets tokenize with `character`, and loading tiktoken compiles its WASM module (~10 ms of
 * CPU per load); `@huggingface/tokenizers` and `@huggingface/jinja` are needed only by an `hf:` tokenizer. Each is
 * asked for when an encoder is built (start-up, or a model's first prompt), never per prompt.
 *
 * @module
 */
import type * as HfTokenizers from "@huggingface/tokenizers";
import type * as Jinja from "@huggingface/jinja";
import type * as TiktokenPackage from "tiktoken";
import type * as Yaml from "yaml";

/** `tiktoken`: the cl100k_base encoding and the fast path of byte-level BPE vocabularies. */
export function loadTiktoken(): typeof TiktokenPackage {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see the module comment)
  return require("tiktoken") as typeof TiktokenPackage;
}

/** `@huggingface/tokenizers`: the general path of `hf:` tokenizers. */
export function loadHfTokenizers(): typeof HfTokenizers {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see the module comment)
  return require("@huggingface/tokenizers") as typeof HfTokenizers;
}

/** `@huggingface/jinja`: chat templates of `hf:` tokenizers. */
export function loadJinja(): typeof Jinja {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see the module comment)
  return require("@huggingface/jinja") as typeof Jinja;
}

/** `yaml`: the tokenizer specification file, read at start-up when configured. */
export function loadYaml(): typeof Yaml {
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- loaded on first use (see the module comment)
  return require("yaml") as typeof Yaml;
}
