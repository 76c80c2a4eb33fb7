/**
 * `helm template` / `helm install --dry-run=client` on charts/kvroute with either packaged helm (4, or 3 as most users
 * still run; both extracted from devDependencies by scripts/helm.mjs), parsed into objects. Nothing contacts a
 * cluster: `template` and helm 4's client dry run are offline.
 */
import { execFile, execFileSync } from "node:child_process";
import { createHash } from "node:crypto";
import {
  existsSync,
  mkdirSync,
  readFileSync,
  readdirSync,
  renameSync,
  statSync,
  writeFileSync,
} from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { parseAllDocuments } from "yaml";
import { perRunPath } from "../support/compiled-build";

export type Obj = Record<string, unknown>;
export type HelmMajor = 3 | 4;

export const ROOT = path.resolve(__dirname, "../..");
export const CHART = path.join(ROOT, "charts/kvroute");
const run = promisify(execFile);

const helmPaths = new Map<HelmMajor, string>();

/**
 * The path of the packaged helm of that major, extracted and checked by scripts/helm.mjs on first use. Its answer is
 * kept for the rest of the jest run (a file beside the run's compiled build), so the test files that render the
 * chart start one node for it per run rather than one each.
 */
export function helmPath(major: HelmMajor): string {
  let bin = helmPaths.get(major);
  if (bin === undefined) {
    const memo = perRunPath(`helm${major}-path`);
    bin = memo !== undefined && existsSync(memo) ? readFileSync(memo, "utf8") : askHelmScript(major);
    if (memo !== undefined && !existsSync(memo)) writeWhole(memo, bin);
    helmPaths.set(major, bin);
  }
  return bin;
}

/** Writes beside `file` and renames: a parallel worker reading the memo never sees half of it. */
function writeWhole(file: string, text: string): void {
  writeFileSync(`${file}.${process.pid}`, text);
  renameSync(`${file}.${process.pid}`, file);
}

function askHelmScript(major: HelmMajor): string {
  const args = major === 3 ? ["--helm3", "--path"] : ["--path"];
  return execFileSync(process.execPath, [path.join(ROOT, "scripts/helm.mjs"), ...args], {
    encoding: "utf8",
  }).trim();
}

/** helm's output per command line, for this test file: renders repeated by several tests run helm once. */
const outputs = new Map<string, Promise<string>>();

let chartDigest: string | undefined;

/** A digest of every file of the chart (path and content), taken once per test file: no test changes the chart. */
function chartFilesDigest(): string {
  if (chartDigest === undefined) {
    const hash = createHash("sha256");
    const files = readdirSync(CHART, { recursive: true, encoding: "utf8" })
      .filter((f) => statSync(path.join(CHART, f)).isFile())
      .sort();
    for (const f of files)
      hash
        .update(`${f}\0`)
        .update(readFileSync(path.join(CHART, f)))
        .update("\0");
    chartDigest = hash.digest("hex");
  }
  return chartDigest;
}

/**
 * The key of a helm command line for the run-wide memo: the exact arguments, the chart's files, and the content of
 * any other file an argument names (a values file outside the chart).
 */
function memoKey(major: HelmMajor, args: readonly string[]): string {
  const hash = createHash("sha256")
    .update(JSON.stringify([major, ...args]))
    .update(chartFilesDigest());
  for (const a of args)
    if (path.isAbsolute(a) && !a.startsWith(`${CHART}${path.sep}`) && existsSync(a) && statSync(a).isFile())
      hash.update(readFileSync(a));
  return hash.digest("hex").slice(0, 40);
}

/**
 * The path of a run-wide memo file: `.out` for helm's output keyed by {@link memoKey}, `.json` for the objects of
 * an output keyed by its digest; undefined outside jest.
 */
function memoPath(key: string, ext: ".out" | ".json"): string | undefined {
  const dir = perRunPath("helm-memo");
  if (dir === undefined) return undefined;
  mkdirSync(dir, { recursive: true });
  return path.join(dir, key + ext);
}

/**
 * Runs helm with its cache/config/data beside the binary, never under $HOME. A command line already run in this
 * test file is answered from the first run (helm's output depends only on the arguments and the chart, which no
 * test changes); a failure is answered again as the same failure. A success is also kept for the rest of the jest
 * run, keyed on the command line and the chart's files ({@link memoKey}), so the test files that render the same
 * values (the defaults, the ci/ values files) run helm once between them.
 */
export function helm(major: HelmMajor, args: readonly string[]): Promise<string> {
  const key = JSON.stringify([major, ...args]);
  let output = outputs.get(key);
  if (output === undefined) {
    output = runHelmOnce(major, args);
    outputs.set(key, output);
  }
  return output;
}

async function runHelmOnce(major: HelmMajor, args: readonly string[]): Promise<string> {
  const memo = memoPath(memoKey(major, args), ".out");
  if (memo !== undefined && existsSync(memo)) return readFileSync(memo, "utf8");
  const stdout = await runHelm(major, args);
  if (memo !== undefined) writeWhole(memo, stdout);
  return stdout;
}

async function runHelm(major: HelmMajor, args: readonly string[]): Promise<string> {
  const bin = helmPath(major);
  const dir = path.dirname(bin);
  const env = {
    ...process.env,
    HELM_CACHE_HOME: path.join(dir, "cache"),
    HELM_CONFIG_HOME: path.join(dir, "config"),
    HELM_DATA_HOME: path.join(dir, "data"),
    // helm lives for a tenth of a second and peaks at ~70 MB: garbage collection is a quarter of its CPU for nothing.
    // The memory limit keeps the heap bounded all the same (Go collects when nearing it).
    GOGC: "off",
    GOMEMLIMIT: "512MiB",
  };
  const { stdout } = await run(bin, [...args], { env, maxBuffer: 16 * 1024 * 1024 });
  return stdout;
}

/**
 * Each render's objects as JSON, keyed on helm's output itself, for this test file: a render asked for again, or
 * another command line with the very same output (helm 3's and helm 4's renders are byte-identical; so are a value
 * set to its default and the default), is rebuilt from JSON rather than parsed from YAML again. Undefined: the
 * objects do not survive JSON (see {@link exactJson}) and are parsed each time.
 */
const parsed = new Map<string, string | undefined>();

/**
 * `helm template <release> charts/kvroute --namespace <ns> ...args` → the rendered objects, in order, fresh objects
 * for each caller. Parsing helm's YAML costs far more CPU than JSON (tens of ms for a larger render in a test
 * file's cold module instance), so the objects are also kept as JSON for the rest of the jest run.
 */
export async function renderChart(
  args: readonly string[] = [],
  opts: { major?: HelmMajor; release?: string; namespace?: string } = {},
): Promise<Obj[]> {
  const stdout = await helm(opts.major ?? 4, [
    "template",
    opts.release ?? "r1",
    CHART,
    "--namespace",
    opts.namespace ?? "llm",
    ...args,
  ]);
  const key = createHash("sha256").update(stdout).digest("hex").slice(0, 40);
  if (!parsed.has(key)) parsed.set(key, jsonOf(key, stdout));
  const json = parsed.get(key);
  return json === undefined ? parseYaml(stdout) : (JSON.parse(json) as Obj[]);
}

const parseYaml = (stdout: string): Obj[] =>
  parseAllDocuments(stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);

/** The objects of the output whose digest is `key`, as JSON: from the run-wide memo, else parsed and kept there. */
function jsonOf(key: string, stdout: string): string | undefined {
  const memo = memoPath(key, ".json");
  if (memo !== undefined && existsSync(memo)) return readFileSync(memo, "utf8");
  const json = exactJson(parseYaml(stdout));
  if (memo !== undefined && json !== undefined) writeWhole(memo, json);
  return json;
}

/** JSON of `objs`, or undefined when a value would not come back the same (JSON has no Infinity, NaN or -0). */
function exactJson(objs: Obj[]): string | undefined {
  let exact = true;
  const json = JSON.stringify(objs, (_k, v: unknown) => {
    if (typeof v === "number" && (!Number.isFinite(v) || Object.is(v, -0))) exact = false;
    return v;
  });
  return exact ? json : undefined;
}

/** The chart's NOTES.txt as `helm install --dry-run=client` (helm 4, offline) prints them. */
export async function renderNotes(args: readonly string[] = []): Promise<string> {
  const stdout = await helm(4, ["install", "r1", CHART, "--namespace", "llm", "--dry-run=client", ...args]);
  const at = stdout.indexOf("NOTES:\n");
  if (at < 0) throw new Error(`no NOTES in helm's output:\n${stdout}`);
  return stdout.slice(at + "NOTES:\n".length);
}

/** A nested value, or undefined when any step is missing. */
export function at(o: unknown, ...keys: (string | number)[]): unknown {
  return keys.reduce<unknown>((v, k) => (v as Record<string | number, unknown> | undefined)?.[k], o);
}

/** The objects of one kind. */
export const ofKind = (objs: readonly Obj[], kind: string): Obj[] => objs.filter((o) => o["kind"] === kind);
