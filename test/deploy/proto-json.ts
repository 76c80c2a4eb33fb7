/**
 * proto3 JSON helpers for the Envoy proto checker: scalar and wrapper checks, error paths, name suggestions.
 */

const SCALAR_INTS = new Set(["int32", "sint32", "sfixed32", "uint32", "fixed32"]);
const SCALAR_LONGS = new Set(["int64", "sint64", "sfixed64", "uint64", "fixed64"]);
const UNSIGNED = new Set(["uint32", "fixed32", "uint64", "fixed64"]);
export const WRAPPERS: Record<string, string> = {
  "google.protobuf.DoubleValue": "double",
  "google.protobuf.FloatValue": "float",
  "google.protobuf.Int64Value": "int64",
  "google.protobuf.UInt64Value": "uint64",
  "google.protobuf.Int32Value": "int32",
  "google.protobuf.UInt32Value": "uint32",
  "google.protobuf.BoolValue": "bool",
  "google.protobuf.StringValue": "string",
  "google.protobuf.BytesValue": "bytes",
};

/** `a.b`, `a[0]`, `a["envoy.filters.http.ext_proc"]`: error paths read like the YAML. */
export function joinPath(base: string, key: string | number): string {
  if (typeof key === "number") return `${base}[${key}]`;
  if (!/^[A-Za-z_@][A-Za-z0-9_]*$/.test(key)) return `${base}[${JSON.stringify(key)}]`;
  return base === "" ? key : `${base}.${key}`;
}

function editDistance(a: string, b: string): number {
  let prev = Array.from({ length: b.length + 1 }, (_v, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const cur = [i];
    for (let j = 1; j <= b.length; j++) {
      const sub = (prev[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1);
      cur.push(Math.min((prev[j] ?? 0) + 1, (cur[j - 1] ?? 0) + 1, sub));
    }
    prev = cur;
  }
  return prev[b.length] ?? 0;
}

export function suggest(name: string, candidates: readonly string[]): string {
  let best: string | undefined;
  let bestD = Math.max(2, Math.floor(name.length / 4)) + 1;
  for (const c of candidates) {
    const d = editDistance(name, c);
    if (d < bestD) [best, bestD] = [c, d];
  }
  return best === undefined ? "" : ` (did you mean "${best}"?)`;
}

export function scalarProblem(value: unknown, type: string): string | undefined {
  const want = (what: string): string => `expected ${what} (${type}), got ${JSON.stringify(value)}`;
  if (type === "string") return typeof value === "string" ? undefined : want("a string");
  if (type === "bool") return typeof value === "boolean" ? undefined : want("true or false");
  if (type === "bytes") return typeof value === "string" ? undefined : want("a base64 string");
  if (type === "double" || type === "float") {
    const ok = typeof value === "number" || (typeof value === "string" && !Number.isNaN(Number(value)));
    return ok || value === "NaN" || value === "Infinity" || value === "-Infinity"
      ? undefined
      : want("a number");
  }
  if (SCALAR_INTS.has(type) || SCALAR_LONGS.has(type)) {
    const n = typeof value === "string" && /^-?\d+$/.test(value) ? Number(value) : value;
    if (typeof n !== "number" || !Number.isInteger(n)) return want("an integer");
    if (UNSIGNED.has(type) && n < 0) return want("a non-negative integer");
    if (SCALAR_INTS.has(type) && (n > 0xffffffff || n < -0x80000000)) return want("a 32-bit integer");
    return undefined;
  }
  return `unsupported scalar type ${type}`;
}
