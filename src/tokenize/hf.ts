/**
 * Hugging Face `tokenizer.json` encoders: the general path through `@huggingface/tokenizers`, and a tiktoken
 * fast path for byte-level BPE vocabularies whose merge order equals rank order (Qwen2/3, Llama 3), used only
 * when it encodes a built-in sample identically. Chat templates render
 * with `@huggingface/jinja`.
 *
 * @module
 */
import { existsSync, readFileSync, statSync } from "node:fs";
import { dirname, join } from "node:path";
import type { Tiktoken } from "tiktoken";
import { loadHfTokenizers, loadJinja, loadTiktoken } from "./packages";
import type { ChatMessage } from "./tokenizer";
import type { EncoderLog, SyncEncoder } from "./encoder";
import { fastPathSample } from "./parity-sample";

/** The parts of `tokenizer.json` this module reads. */
interface TokenizerJson {
  readonly normalizer?: { readonly type?: string } | null;
  readonly pre_tokenizer?: PreTokenizerJson | null;
  readonly model?: {
    readonly type?: string;
    readonly vocab?: Record<string, number>;
    readonly merges?: readonly (string | readonly [string, string])[];
    readonly byte_fallback?: boolean;
    readonly ignore_merges?: boolean;
  };
  readonly added_tokens?: readonly {
    readonly id: number;
    readonly content: string;
    readonly lstrip?: boolean;
    readonly rstrip?: boolean;
    readonly single_word?: boolean;
  }[];
}

interface PreTokenizerJson {
  readonly type?: string;
  readonly pretokenizers?: readonly PreTokenizerJson[];
  readonly pattern?: { readonly Regex?: string };
  readonly behavior?: string;
  readonly invert?: boolean;
  readonly use_regex?: boolean;
}

/** Options of `loadHfEncoder`. */
export interface HfLoadOptions {
  /** Receives which encoder was chosen and why. */
  readonly log?: EncoderLog;
  /** Set false to never use the tiktoken fast path (tests, benchmarks). Default true. */
  readonly fastPath?: boolean;
}

/** An HF encoder with its diagnostics. */
export interface HfEncoder extends SyncEncoder {
  /** `tiktoken` when the fast path passed its check, else `hf`. */
  readonly engine: "tiktoken" | "hf";
  /** Why the fast path is not used (absent when it is). */
  readonly fallbackReason?: string;
}

/** Resolve `path` (a `tokenizer.json` or its directory) to the file. */
export function tokenizerJsonPath(path: string): string {
  return existsSync(path) && statSync(path).isDirectory() ? join(path, "tokenizer.json") : path;
}

/** Read `tokenizer.json` and, when present beside it, `tokenizer_config.json` (and `chat_template.jinja`). */
function readFiles(path: string): { json: TokenizerJson; config: Record<string, unknown>; file: string } {
  const file = tokenizerJsonPath(path);
  const json = JSON.parse(readFileSync(file, "utf8")) as TokenizerJson;
  const cfgFile = join(dirname(file), "tokenizer_config.json");
  const config = existsSync(cfgFile)
    ? (JSON.parse(readFileSync(cfgFile, "utf8")) as Record<string, unknown>)
    : {};
  const jinjaFile = join(dirname(file), "chat_template.jinja");
  if (config["chat_template"] === undefined && existsSync(jinjaFile)) {
    config["chat_template"] = readFileSync(jinjaFile, "utf8");
  }
  return { json, config, file };
}

/** Load an HF tokenizer: the tiktoken fast path when eligible and proven identical, else `@huggingface/tokenizers`. */
export function loadHfEncoder(path: string, options: HfLoadOptions = {}): HfEncoder {
  return loadHfEncoders(path, options).chosen;
}

/** What one HF load built: the encoder {@link loadHfEncoder} returns, and the general one beside it. */
export interface HfEncoders {
  /** The tiktoken fast path when eligible and proven identical, else `general`. */
  readonly chosen: HfEncoder;
  /** The `@huggingface/tokenizers` encoder (the one the fast path was checked against); `chosen` when it is. */
  readonly general: HfEncoder;
}

/**
 * One load, both encoders: for parity tests and benchmarks that compare the two on a large vocabulary, where a
 * second load (`fastPath: false`) would parse the file and build the general tokenizer again (~0.5 s of CPU for
 * Qwen3). Only `chosen` is logged.
 */
export function loadHfEncoders(path: string, options: HfLoadOptions = {}): HfEncoders {
  const { json, config, file } = readFiles(path);
  const name = `hf:${file}`;
  const { Tokenizer } = loadHfTokenizers();
  const hf = new Tokenizer(json, config);
  const hfEncode = (text: string): Uint32Array =>
    Uint32Array.from(hf.encode(text, { add_special_tokens: false }).ids);
  const renderChat = chatRenderer(config);
  const chat = renderChat === undefined ? {} : { renderChat };
  const fallback = (fallbackReason: string): HfEncoders => {
    options.log?.("tokenizer: using @huggingface/tokenizers", { tokenizer: name, reason: fallbackReason });
    const general: HfEncoder = { name, engine: "hf", fallbackReason, encode: hfEncode, ...chat };
    return { chosen: general, general };
  };
  if (options.fastPath === false) return fallback("fast path disabled");
  const built = buildTiktoken(json);
  if (typeof built === "string") return fallback(built);
  const { enc, nfc } = built;
  const fastEncode = (text: string): Uint32Array => enc.encode(nfc ? text.normalize("NFC") : text, "all");
  for (const sample of fastPathSample()) {
    let same: boolean;
    try {
      same = equalIds(fastEncode(sample), hfEncode(sample));
    } catch {
      same = false;
    }
    if (!same) {
      enc.free();
      // The sample index, not its text: samples are fixed, and logs never carry text.
      return fallback(`fast path differs on sample #${fastPathSample().indexOf(sample)}`);
    }
  }
  options.log?.("tokenizer: using the tiktoken fast path", { tokenizer: name });
  return {
    chosen: { name, engine: "tiktoken", encode: fastEncode, free: () => enc.free(), ...chat },
    general: { name, engine: "hf", fallbackReason: "the fast path is chosen", encode: hfEncode, ...chat },
  };
}

/** Element-wise equality of two id arrays. */
export function equalIds(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/**
 * GPT-2's `bytes_to_unicode`, inverted: indexed by the vocabulary's character (a UTF-16 code unit: all 256 are
 * below U+0144), the byte it stands for; -1 for a character that stands for none.
 */
function unicodeToByte(): Int16Array {
  const bs: number[] = [];
  for (let i = 33; i <= 126; i++) bs.push(i);
  for (let i = 161; i <= 172; i++) bs.push(i);
  for (let i = 174; i <= 255; i++) bs.push(i);
  const cs = bs.slice();
  let n = 0;
  for (let b = 0; b < 256; b++) {
    if (!bs.includes(b)) {
      bs.push(b);
      cs.push(256 + n);
      n++;
    }
  }
  const table = new Int16Array(256 + n).fill(-1);
  cs.forEach((c, i) => (table[c] = bs[i] ?? -1));
  return table;
}

/** The pre-tokenizer regex when the pipeline is `Split(regex, Isolated) + ByteLevel(use_regex: false)`. */
function splitRegex(pre: PreTokenizerJson | null | undefined): string | undefined {
  if (pre?.type !== "Sequence" || pre.pretokenizers?.length !== 2) return undefined;
  const [split, byteLevel] = pre.pretokenizers;
  if (split?.type !== "Split" || split.behavior !== "Isolated" || split.invert === true) return undefined;
  if (byteLevel?.type !== "ByteLevel" || byteLevel.use_regex !== false) return undefined;
  return split.pattern?.Regex;
}

/** Build the tiktoken encoder for a byte-level BPE `tokenizer.json`, or say why it is not eligible. */
function buildTiktoken(json: TokenizerJson): { enc: Tiktoken; nfc: boolean } | string {
  const model = json.model;
  if (model?.type !== "BPE" || model.vocab === undefined) return "model is not BPE";
  if (model.byte_fallback === true) return "BPE uses byte fallback";
  const normalizer = json.normalizer?.type;
  if (normalizer !== undefined && normalizer !== "NFC") return `normalizer ${normalizer} unsupported`;
  const pattern = splitRegex(json.pre_tokenizer);
  if (pattern === undefined) return "pre-tokenizer is not Split + ByteLevel";
  if (
    (json.added_tokens ?? []).some((t) => t.lstrip === true || t.rstrip === true || t.single_word === true)
  ) {
    return "added tokens strip or match single words";
  }
  const vocab = model.vocab;
  // Merge priority must equal rank order: each merge's result has a higher id than the previous merge's.
  let last = -1;
  for (const merge of model.merges ?? []) {
    const [a, b] = typeof merge === "string" ? merge.split(" ", 2) : merge;
    const id = vocab[`${a ?? ""}${b ?? ""}`];
    if (id === undefined || id <= last) return "merge order differs from rank order";
    last = id;
  }
  const u2b = unicodeToByte();
  const lines: string[] = [];
  // One scratch buffer, base64-encoded a slice at a time, and a table lookup per character: a third of the CPU of
  // an array, a Buffer and a Map lookup per token (Qwen3 has 151k tokens; every thread that loads it does this).
  let bytes = Buffer.allocUnsafe(64);
  for (const [token, id] of Object.entries(vocab)) {
    if (token.length > bytes.length) bytes = Buffer.allocUnsafe(token.length);
    for (let i = 0; i < token.length; i++) {
      const b = u2b[token.charCodeAt(i)] ?? -1;
      if (b < 0) return "vocabulary is not byte-level";
      bytes[i] = b;
    }
    lines.push(`${bytes.toString("base64", 0, token.length)} ${id}`);
  }
  const special: Record<string, number> = {};
  for (const t of json.added_tokens ?? []) special[t.content] = t.id;
  const { Tiktoken } = loadTiktoken();
  try {
    return { enc: new Tiktoken(lines.join("\n"), special, pattern), nfc: normalizer === "NFC" };
  } catch (err) {
    return `tiktoken rejected the vocabulary: ${err instanceof Error ? err.message.slice(0, 80) : "error"}`;
  }
}

/** A config token (`"<s>"` or `{content: "<s>"}`) as a string. */
function configToken(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (typeof value === "object" && value !== null) {
    const content = (value as Record<string, unknown>)["content"];
    if (typeof content === "string") return content;
  }
  return undefined;
}

/** The chat-template renderer of a `tokenizer_config.json`, or `undefined` when it has no template. */
export function chatRenderer(
  config: Record<string, unknown>,
): ((messages: readonly ChatMessage[]) => string) | undefined {
  let source = config["chat_template"];
  if (Array.isArray(source)) {
    // The named-templates form: [{name: "default", template: "..."}, …].
    const named = source as readonly { name?: unknown; template?: unknown }[];
    source = (named.find((t) => t.name === "default") ?? named[0])?.template;
  }
  if (typeof source !== "string" || source === "") return undefined;
  const { Template } = loadJinja();
  const template = new Template(source);
  const tokens: Record<string, string> = {};
  for (const key of ["bos_token", "eos_token", "unk_token", "pad_token"]) {
    const token = configToken(config[key]);
    if (token !== undefined) tokens[key] = token;
  }
  return (messages) =>
    template.render({
      messages: messages.map((m) => ({ role: m.role, content: m.content })),
      add_generation_prompt: true,
      ...tokens,
    });
}
