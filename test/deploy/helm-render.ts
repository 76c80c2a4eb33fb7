/**
 * `helm template` / `helm install --dry-run=client` on charts/kvroute with either packaged helm (4, or 3 as most users
 * still run; both extracted from devDependencies by scripts/helm.mjs), parsed into objects. Nothing contacts a
 * cluster: `template` and helm 4's client dry run are offline.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync, readFileSync, renameSync, writeFileSync } from "node:fs";
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
    if (memo !== undefined && !existsSync(memo)) {
      // Beside the memo and renamed: a parallel worker never reads half a path.
      writeFileSync(`${memo}.${process.pid}`, bin);
      renameSync(`${memo}.${process.pid}`, memo);
    }
    helmPaths.set(major, bin);
  }
  return bin;
}

function askHelmScript(major: HelmMajor): string {
  const args = major === 3 ? ["--helm3", "--path"] : ["--path"];
  return execFileSync(process.execPath, [path.join(ROOT, "scripts/helm.mjs"), ...args], {
    encoding: "utf8",
  }).trim();
}

/** helm's output per command line, for this test file: renders repeated by several tests run helm once. */
const outputs = new Map<string, Promise<string>>();

/**
 * Runs helm with its cache/config/data beside the binary, never under $HOME. A command line already run in this
 * test file is answered from the first run (helm's output depends only on the arguments and the chart, which no
 * test changes); a failure is answered again as the same failure.
 */
export function helm(major: HelmMajor, args: readonly string[]): Promise<string> {
  const key = JSON.stringify([major, ...args]);
  let output = outputs.get(key);
  if (output === undefined) {
    output = runHelm(major, args);
    outputs.set(key, output);
  }
  return output;
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

/** `helm template <release> charts/kvroute --namespace <ns> ...args` → the rendered objects, in order. */
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
  return parseAllDocuments(stdout)
    .map((d) => d.toJS() as Obj | null)
    .filter((o): o is Obj => o !== null);
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
