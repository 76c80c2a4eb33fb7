/**
 * Tokenizer specifications: what the registry's configuration names (`character`, `tiktoken`, `remote`,
 * `hf:<path>`, or an object per model), validated once at start-up.
 *
 * @module
 */
import { existsSync, readFileSync } from "node:fs";
import { loadYaml } from "./packages";

/** A tokenizer that runs in this process (or in one of its workers). Plain data: it crosses to workers. */
export type LocalSpec = { readonly type: "character" } | { readonly type: "tiktoken" } | HfSpec;

/** A Hugging Face `tokenizer.json`; `tokenizer_config.json` beside it is read when present. */
export interface HfSpec {
  readonly type: "hf";
  /** Path of `tokenizer.json`, or of the directory holding it. */
  readonly path: string;
}

/** vLLM's `POST /tokenize` on a model server. */
export interface RemoteSpec {
  readonly type: "remote";
  /** Base URL such as `http://10.0.0.7:8000`; when absent the registry's `remoteEndpointFor(model)` decides. */
  readonly endpoint?: string;
}

/** Any tokenizer specification. */
export type TokenizerSpec = LocalSpec | RemoteSpec;

const TYPES = ["character", "tiktoken", "remote", "hf"] as const;

/** A stable key for caching encoders of the same specification. */
export function specKey(spec: TokenizerSpec): string {
  switch (spec.type) {
    case "hf":
      return `hf:${spec.path}`;
    case "remote":
      return spec.endpoint === undefined ? "remote" : `remote:${spec.endpoint}`;
    default:
      return spec.type;
  }
}

/** Parse the short string form: `character`, `tiktoken`, `remote`, `hf:<path>`. Throws naming `where`. */
export function parseSpecString(value: string, where: string): TokenizerSpec {
  if (value === "character" || value === "tiktoken" || value === "remote") return { type: value };
  if (value.startsWith("hf:")) return validateSpec({ type: "hf", path: value.slice(3) }, where);
  throw new Error(
    `${where}: unknown tokenizer "${value}" (expected character, tiktoken, remote or hf:<path>)`,
  );
}

/** Validate one spec object (from YAML or code). Throws an error naming `where` and the bad field. */
export function validateSpec(raw: unknown, where: string): TokenizerSpec {
  if (typeof raw === "string") return parseSpecString(raw, where);
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new Error(`${where}: expected an object with field "type"`);
  }
  const obj = raw as Record<string, unknown>;
  for (const key of Object.keys(obj)) {
    if (key !== "type" && key !== "path" && key !== "endpoint")
      throw new Error(`${where}: unknown field "${key}"`);
  }
  const type = obj["type"];
  if (typeof type !== "string" || !(TYPES as readonly string[]).includes(type)) {
    throw new Error(`${where}: field "type" must be one of ${TYPES.join(", ")}`);
  }
  const path = obj["path"];
  const endpoint = obj["endpoint"];
  if (type !== "hf" && path !== undefined)
    throw new Error(`${where}: field "path" is only valid for type hf`);
  if (type !== "remote" && endpoint !== undefined) {
    throw new Error(`${where}: field "endpoint" is only valid for type remote`);
  }
  if (type === "hf") {
    if (typeof path !== "string" || path === "")
      throw new Error(`${where}: field "path" is required for type hf`);
    if (!existsSync(path)) throw new Error(`${where}: field "path": ${path} does not exist`);
    return { type: "hf", path };
  }
  if (type === "remote") {
    if (endpoint === undefined) return { type: "remote" };
    if (typeof endpoint !== "string" || !/^https?:\/\/[^/]+/.test(endpoint)) {
      throw new Error(`${where}: field "endpoint" must be an http(s) URL`);
    }
    return { type: "remote", endpoint: endpoint.replace(/\/+$/, "") };
  }
  return { type: type as "character" | "tiktoken" };
}

/** Read a YAML file `models: {<model>: {type, path?, endpoint?}}`. Throws naming the file, model and field. */
export function loadSpecFile(file: string): Record<string, TokenizerSpec> {
  let doc: unknown;
  try {
    doc = loadYaml().parse(readFileSync(file, "utf8"));
  } catch (err) {
    throw new Error(`tokenizer config ${file}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  if (doc === null || doc === undefined) return {};
  if (typeof doc !== "object" || Array.isArray(doc))
    throw new Error(`tokenizer config ${file}: expected a mapping`);
  const models = (doc as Record<string, unknown>)["models"];
  if (models === undefined || models === null) return {};
  if (typeof models !== "object" || Array.isArray(models)) {
    throw new Error(`tokenizer config ${file}: field "models" must be a mapping`);
  }
  return validateSpecMap(models as Record<string, unknown>, `tokenizer config ${file}`);
}

/** Validate a `model → spec` map. */
export function validateSpecMap(map: Record<string, unknown>, where: string): Record<string, TokenizerSpec> {
  const out: Record<string, TokenizerSpec> = {};
  for (const [model, raw] of Object.entries(map))
    out[model] = validateSpec(raw, `${where}: model "${model}"`);
  return out;
}
