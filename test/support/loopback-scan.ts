/**
 * Finds addresses that a kvroute started by a test or benchmark could dial outside 127.0.0.0/8 (issue 12, point 4:
 * no traffic leaves the machine). Static: it reads configuration files and sources, it runs nothing.
 *
 * What is scanned, and the rule for each:
 * - configuration files (`.yaml`, `.yml`, `.json`) under `test/`, `bench/`, `examples/` and `charts/kvroute/ci/`
 *   (endpoints files, tokenizers configs with remote endpoints, chart values naming pods or Redis): every IPv4
 *   literal, every `host:port`, every URL's host and every `host:` value;
 * - sources (`.ts`, `.js`, `.mjs`) under `test/` and `bench/`: every URL's host (`http`, `https`, `tcp`, `redis`,
 *   `rediss`, `ws`, `wss`, `grpc`), the value after `--redis-host`, a literal `endpoint: "<address>"`; and, in files that start real kvroute
 *   processes or real scrapes (`bench/`, `test/process/`, `test/support/`, and any test that sets
 *   `scrapeMetrics: true` or turns KV events on), every IPv4 literal, since their pods are dialled.
 *
 * Allowed: literal IPv4 addresses in 127.0.0.0/8 only. A host computed at run time (`${…}` in a template) cannot be
 * checked here and is skipped (in this repository those come from servers listening on 127.0.0.1). `localhost` is
 * NOT allowed: a name goes through the resolver (nsswitch may ask DNS) and Node may pick `::1`, outside 127/8.
 *
 * A literal that is never dialled (a header value, a parser's base URL, an address that is only formatted or only
 * rendered by `helm template`) is marked on its line or the line above with {@link NOT_DIALLED_MARKER} and a
 * reason, so it is excluded on purpose and the next reader sees why.
 *
 * Not covered: addresses built from parts at run time, and in-process test harnesses whose pods are in-memory
 * fixtures (`test/extproc/harness.ts` scrapes nothing unless a test sets `scrapeMetrics: true`, which puts that
 * file under the IPv4 rule).
 *
 * @module
 */
import { readFileSync, readdirSync, statSync } from "node:fs";
import path from "node:path";

/** The marker for a literal that is never dialled: `loopback-check: not-dialled (<why>)`. */
export const NOT_DIALLED_MARKER = "loopback-check: not-dialled";

/** One address outside 127.0.0.0/8. */
export interface LoopbackFinding {
  readonly file: string;
  /** 1-based. */
  readonly line: number;
  readonly address: string;
  /** Which rule found it. */
  readonly rule: "url" | "ipv4" | "host:port" | "host key" | "--redis-host" | "endpoint key";
}

/** How a file is scanned. */
export type ScanKind = "config" | "source" | "dialling-source";

const URL_RE = /\b(?:https?|tcp|redis|rediss|wss?|grpc):\/\/(?:[^@\s/"'`]*@)?(\[[^\]\s]*\]|[^\s/:"'`?#]+)/g;
const IPV4_RE = /(?<![\w.])(\d{1,3}(?:\.\d{1,3}){3})(?![\w.])/g;
const HOST_PORT_RE =
  /(?<![\w.:/@-])(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9](?:[A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})(?![\w.:])/g;
const HOST_KEY_RE = /(?:^|[\s{,])"?host"?\s*:\s*"?([^\s",}#]+)/g;
const REDIS_HOST_RE = /--redis-host(?:=|["'`]\s*,\s*["'`])([^"'`\s]+)/g;
/** `endpoint: "<address>"` in a source: a remote tokenizer's (or any other) endpoint given as a literal. */
const ENDPOINT_KEY_RE = /(?<![\w-])endpoint["']?\s*:\s*["'`]([^"'`]+)["'`]/g;

/** Whether `host` (a literal address, no port) is in 127.0.0.0/8. */
export function isLoopbackLiteral(host: string): boolean {
  const m = /^127\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(host);
  return m !== null && m.slice(1).every((o) => Number(o) <= 255);
}

/** A host computed at run time (template interpolation), which a static scan cannot judge. */
function isComputed(host: string): boolean {
  return host.includes("${") || host.startsWith("$");
}

/** Every address on `line` that the rules of `kind` check, with the rule that found it. */
function addressesOn(line: string, kind: ScanKind): { address: string; rule: LoopbackFinding["rule"] }[] {
  const out: { address: string; rule: LoopbackFinding["rule"] }[] = [];
  for (const m of line.matchAll(URL_RE)) out.push({ address: m[1] ?? "", rule: "url" });
  for (const m of line.matchAll(REDIS_HOST_RE)) out.push({ address: m[1] ?? "", rule: "--redis-host" });
  for (const m of line.matchAll(ENDPOINT_KEY_RE)) {
    const value = m[1] ?? "";
    // A URL is the URL rule's; a value without a dot or colon is not an address ("chat-completions").
    if (/^\w+:\/\//.test(value) || !/[.:]|^localhost$/.test(value)) continue;
    out.push({ address: value.replace(/:\d+$/, ""), rule: "endpoint key" });
  }
  if (kind !== "source")
    for (const m of line.matchAll(IPV4_RE)) out.push({ address: m[1] ?? "", rule: "ipv4" });
  if (kind === "config") {
    // A URL's host:port is checked by the URL rule; drop the scheme part so it is not seen twice.
    const bare = line.replace(URL_RE, "");
    for (const m of bare.matchAll(HOST_PORT_RE)) {
      const host = m[1] ?? "";
      if (/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) continue; // the IPv4 rule has it
      out.push({ address: host, rule: "host:port" });
    }
    for (const m of bare.matchAll(HOST_KEY_RE)) {
      const host = m[1] ?? "";
      if (!/^\d{1,3}(\.\d{1,3}){3}$/.test(host)) out.push({ address: host, rule: "host key" });
    }
  }
  return out.filter((a) => a.address !== "" && !isComputed(a.address));
}

/** Findings in one file's text. */
export function scanText(file: string, text: string, kind: ScanKind): LoopbackFinding[] {
  const lines = text.split("\n");
  const findings: LoopbackFinding[] = [];
  lines.forEach((line, i) => {
    if (line.includes(NOT_DIALLED_MARKER) || (lines[i - 1] ?? "").includes(NOT_DIALLED_MARKER)) return;
    // A YAML comment documents, it configures nothing.
    const live = kind === "config" && /\.ya?ml$/.test(file) ? line.replace(/(^|\s)#.*$/, "") : line;
    for (const a of addressesOn(live, kind)) {
      if (!isLoopbackLiteral(a.address)) findings.push({ file, line: i + 1, ...a });
    }
  });
  return findings;
}

const CONFIG_EXT = /\.(ya?ml|json)$/;
const SOURCE_EXT = /\.(ts|js|mjs)$/;
/** Directories whose configuration files are scanned. */
export const CONFIG_DIRS = ["test", "bench", "examples", path.join("charts", "kvroute", "ci")] as const;
/** Directories whose sources are scanned. */
export const SOURCE_DIRS = ["test", "bench"] as const;
/** Sources under these start real kvroute processes or real pods: every IPv4 literal is checked. */
const DIALLING_DIRS = ["bench/", "test/process/", "test/support/"];
/** A test whose in-process kvroute dials its pods (scrapes, KV events). */
const DIALLING_HINT = /scrapeMetrics:\s*true|kv-events-enabled|--kv-events-static/;

function walk(dir: string, out: string[]): void {
  let names: string[];
  try {
    names = readdirSync(dir);
  } catch {
    return;
  }
  for (const name of names) {
    if (name === "node_modules" || name.startsWith(".")) continue;
    const p = path.join(dir, name);
    if (statSync(p).isDirectory()) walk(p, out);
    else out.push(p);
  }
}

/** Scan the repository at `root`; `skip` lists repo-relative files left out (files holding deliberate fixtures). */
export function scanRepository(root: string, skip: readonly string[] = []): LoopbackFinding[] {
  const findings: LoopbackFinding[] = [];
  const seen = new Set<string>();
  const visit = (
    dirs: readonly string[],
    ext: RegExp,
    kindOf: (rel: string, text: string) => ScanKind,
  ): void => {
    for (const d of dirs) {
      const files: string[] = [];
      walk(path.join(root, d), files);
      for (const f of files) {
        const rel = path.relative(root, f).split(path.sep).join("/");
        if (!ext.test(rel) || skip.includes(rel) || seen.has(rel)) continue;
        seen.add(rel);
        const text = readFileSync(f, "utf8");
        findings.push(...scanText(rel, text, kindOf(rel, text)));
      }
    }
  };
  visit(CONFIG_DIRS, CONFIG_EXT, () => "config");
  visit(SOURCE_DIRS, SOURCE_EXT, (rel, text) =>
    DIALLING_DIRS.some((d) => rel.startsWith(d)) || DIALLING_HINT.test(text) ? "dialling-source" : "source",
  );
  return findings;
}

/** Files scanned per kind (for the test to prove the scan saw something). */
export function countScannedFiles(root: string): { config: number; source: number } {
  const count = (dirs: readonly string[], ext: RegExp): number => {
    const files: string[] = [];
    for (const d of dirs) walk(path.join(root, d), files);
    return files.filter((f) => ext.test(f)).length;
  };
  return { config: count(CONFIG_DIRS, CONFIG_EXT), source: count(SOURCE_DIRS, SOURCE_EXT) };
}
