/**
 * The repository files a tsconfig compiles, imports followed: what `tsc -p <tsconfig> --listFilesOnly` lists
 * outside node_modules, found without building a program. TypeScript's own config parser gives the root files
 * (include/exclude applied), its preprocessor finds each file's module specifiers (imports, re-exports, `import x =
 * require`, dynamic and type-position `import()`, triple-slash references) and its resolver resolves them with the
 * tsconfig's options. `tsc --listFilesOnly` parses every declaration file of every dependency as well (~1,900 files,
 * ~4 s of CPU); none of those can pull a repository file back in, so they are not read.
 *
 * @module
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import ts from "typescript";

/**
 * The files `tsconfig` (a path) compiles under `root`, outside node_modules, as paths relative to `root`, sorted.
 *
 * @throws Error if the tsconfig cannot be read or has errors, or a relative import does not resolve.
 */
export function buildFiles(root: string, tsconfig: string): string[] {
  const parsed = ts.getParsedCommandLineOfConfigFile(tsconfig, undefined, {
    ...ts.sys,
    onUnRecoverableConfigFileDiagnostic: (d) => {
      throw new Error(ts.flattenDiagnosticMessageText(d.messageText, "\n"));
    },
  });
  if (parsed === undefined || parsed.errors.length > 0)
    throw new Error(`${tsconfig}: ${parsed?.errors.map((d) => String(d.messageText)).join("; ")}`);
  const inRepo = (file: string): boolean => {
    const rel = path.relative(root, file);
    return !rel.startsWith("..") && !rel.split(path.sep).includes("node_modules");
  };
  const cache = ts.createModuleResolutionCache(root, (f) => f, parsed.options);
  const seen = new Set(parsed.fileNames);
  const queue = [...parsed.fileNames];
  while (queue.length > 0) {
    const file = queue.pop() as string;
    const info = ts.preProcessFile(readFileSync(file, "utf8"), true, true);
    const found = info.importedFiles.map((ref) => {
      const resolved = ts.resolveModuleName(ref.fileName, file, parsed.options, ts.sys, cache).resolvedModule;
      // A relative specifier that resolves nowhere would hide a file the build compiles (tsc fails on it anyway).
      if (resolved === undefined && ref.fileName.startsWith("."))
        throw new Error(`${path.relative(root, file)}: cannot resolve ${ref.fileName}`);
      return resolved?.resolvedFileName;
    });
    const referenced = info.referencedFiles.map((ref) => path.resolve(path.dirname(file), ref.fileName));
    for (const next of [...found, ...referenced]) {
      if (next === undefined || !inRepo(next) || seen.has(next)) continue;
      seen.add(next);
      queue.push(next);
    }
  }
  return [...seen]
    .filter(inRepo)
    .map((f) => path.relative(root, f))
    .sort();
}
