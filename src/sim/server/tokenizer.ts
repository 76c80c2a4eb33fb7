/**
 * The simulator's tokenizers, built without kvroute's tokenize module so that the two sides check each other:
 *
 * - `character`: one id per UTF-8 byte of the text (the byte's value), the documented rule kvroute's
 *   `character` tokenizer follows too;
 * - `tiktoken`: cl100k_base from the `tiktoken` package, special-token text encoded as ordinary text;
 * - `hf:<tokenizer.json or its directory>`: `@huggingface/tokenizers` without added special tokens, and the chat
 *   template of `tokenizer_config.json` (or `chat_template.jinja`) rendered with `@huggingface/jinja`, generation
 *   prompt added, as vLLM renders a chat.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import { Template } from "@huggingface/jinja";
import { Tokenizer as HfTokenizer } from "@huggingface/tokenizers";
import { get_encoding } from "tiktoken";
import type { SimPrompt, SimTurn } from "./request";

/** A loaded tokenizer. */
export interface SimTokenizer {
  readonly name: string;
  /** Ids of `text`, no special tokens added. */
  encode(text: string): Uint32Array;
  /** The chat rendered with the model's template; absent when the tokenizer has none. */
  renderChat?(turns: readonly SimTurn[]): string;
  /** Release WASM memory. */
  free(): void;
}

function characterTokenizer(): SimTokenizer {
  return {
    name: "character",
    encode: (text) => new Uint32Array(Buffer.from(text, "utf8")),
    free: () => undefined,
  };
}

function tiktokenTokenizer(): SimTokenizer {
  const enc = get_encoding("cl100k_base");
  return { name: "tiktoken", encode: (text) => enc.encode_ordinary(text), free: () => enc.free() };
}

/** `"<s>"` or `{content: "<s>"}` from a tokenizer config. */
function tokenString(v: unknown): string | undefined {
  if (typeof v === "string") return v;
  if (typeof v === "object" && v !== null && typeof (v as Record<string, unknown>)["content"] === "string")
    return (v as Record<string, string>)["content"];
  return undefined;
}

function templateSource(config: Record<string, unknown>, dir: string): string | undefined {
  let source = config["chat_template"];
  if (Array.isArray(source)) {
    const named = source as { name?: unknown; template?: unknown }[];
    source = (named.find((t) => t.name === "default") ?? named[0])?.template;
  }
  if (source === undefined && existsSync(join(dir, "chat_template.jinja")))
    source = readFileSync(join(dir, "chat_template.jinja"), "utf8");
  return typeof source === "string" && source !== "" ? source : undefined;
}

function hfTokenizer(path: string): SimTokenizer {
  const file = statSync(path).isDirectory() ? join(path, "tokenizer.json") : path;
  const dir = dirname(file);
  const json = JSON.parse(readFileSync(file, "utf8")) as Record<string, unknown>;
  const cfgFile = join(dir, "tokenizer_config.json");
  const config = existsSync(cfgFile)
    ? (JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>)
    : {};
  const hf = new HfTokenizer(json, config);
  const tok: SimTokenizer = {
    name: `hf:${file}`,
    encode: (text) => Uint32Array.from(hf.encode(text, { add_special_tokens: false }).ids),
    free: () => undefined,
  };
  const source = templateSource(config, dir);
  if (source === undefined) return tok;
  const template = new Template(source);
  const specials: Record<string, string> = {};
  for (const key of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
    const s = tokenString(config[key]);
    if (s !== undefined) specials[key] = s;
  }
  return {
    ...tok,
    renderChat: (turns) =>
      template.render({
        messages: turns.map((t) => ({ role: t.role, content: t.content })),
        add_generation_prompt: true,
        ...specials,
      }),
  };
}

/** Load `character`, `tiktoken` or `hf:<path>`; throws on anything else. */
export function loadSimTokenizer(spec: string): SimTokenizer {
  if (spec === "character") return characterTokenizer();
  if (spec === "tiktoken") return tiktokenTokenizer();
  if (spec.startsWith("hf:")) return hfTokenizer(spec.slice(3));
  throw new Error(`unknown tokenizer ${spec} (character, tiktoken or hf:<path>)`);
}

/** Token ids of a prompt: ids as given, a chat through its template when there is one, else the text. */
export function promptTokens(tok: SimTokenizer, prompt: SimPrompt, chat?: readonly SimTurn[]): Uint32Array {
  if (prompt.t === "tokens") return Uint32Array.from(prompt.ids);
  if (chat !== undefined && tok.renderChat !== undefined) return tok.encode(tok.renderChat(chat));
  return tok.encode(prompt.text);
}
