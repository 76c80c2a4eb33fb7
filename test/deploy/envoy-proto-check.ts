/**
 * Checks plain JS objects (parsed Envoy YAML/JSON) against Envoy's official protos, as shipped in the
 * `@grpc/grpc-js-xds` devDependency (`deps/envoy-api`, `deps/xds`, `deps/googleapis`, `deps/protoc-gen-validate`).
 * No Envoy binary runs here, so this is what stands between a misspelt field and a config Envoy rejects.
 *
 * It follows the proto3 JSON mapping Envoy's YAML loader uses: field names (snake_case, or the lowerCamelCase JSON
 * name), nested messages, repeated fields and maps, enum names, scalar types, `google.protobuf.Any` with `@type`
 * (resolved to its message and recursed, loading the proto file on demand; `TypedStruct` too), Duration strings,
 * wrappers, Struct/Value, oneofs (at most one member set), plus the two `validate` rules that decide whether a
 * config loads at all: `(validate.rules).message.required` and `(validate.required)` oneofs. Deprecated fields are
 * errors unless `allowDeprecated`. Not checked: other PGV rules (string lengths, numeric ranges, enum
 * `defined_only` beyond "is a name"), cross-field semantics Envoy checks in C++, and whether an extension name is
 * registered in a given Envoy build.
 *
 * The package's Envoy API snapshot is older than current Envoy. Fields the configs here need that it lacks are
 * added by hand in `SNAPSHOT_GAPS` (with upstream field numbers) so they are still type-checked; the tests list
 * them and fail once the snapshot gains them, so the list cannot go stale silently.
 */
import { existsSync, readdirSync } from "node:fs";
import path from "node:path";
import * as protobuf from "protobufjs";
import { WRAPPERS, joinPath, scalarProblem, suggest } from "./proto-json";

export { joinPath } from "./proto-json";

const XDS_DEPS = path.join(path.dirname(require.resolve("@grpc/grpc-js-xds/package.json")), "deps");
/** Include dirs: the four trees of the package, plus protobufjs's own `google/protobuf/*.proto` (descriptor). */
const INCLUDE_DIRS = [
  ...["envoy-api", "xds", "googleapis", "protoc-gen-validate"].map((d) => path.join(XDS_DEPS, d)),
  path.dirname(require.resolve("protobufjs/package.json")),
];

/** A field present in current Envoy but missing from the package's snapshot, added by hand. */
export interface SnapshotGap {
  readonly message: string;
  readonly field: string;
  readonly id: number;
  /** Fully qualified type, or a scalar name. */
  readonly type: string;
  /** The proto file that defines `type`, loaded first. */
  readonly typeFile?: string;
  /** Where upstream defines it, for the reader. */
  readonly upstream: string;
}

export const SNAPSHOT_GAPS: readonly SnapshotGap[] = [
  {
    message: "envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor",
    field: "status_on_error",
    id: 24,
    type: "envoy.type.v3.HttpStatus",
    typeFile: "envoy/type/v3/http_status.proto",
    upstream: "envoy api/envoy/extensions/filters/http/ext_proc/v3/ext_proc.proto (Envoy >= 1.31)",
  },
];

/** Types whose JSON form is not an object of fields: inside an Any they sit under `value`. */
const SPECIAL_JSON = new Set([
  ...Object.keys(WRAPPERS),
  "google.protobuf.Duration",
  "google.protobuf.Timestamp",
  "google.protobuf.FieldMask",
  "google.protobuf.Struct",
  "google.protobuf.Value",
  "google.protobuf.ListValue",
]);
const TYPED_STRUCTS = new Set(["xds.type.v3.TypedStruct", "udpa.type.v1.TypedStruct"]);
const DURATION = /^-?\d+(\.\d{1,9})?s$/;
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$/;

export interface CheckOptions {
  /** Accept fields marked `deprecated = true` (Envoy warns, or rejects some by default). */
  readonly allowDeprecated?: boolean;
}

type Obj = Record<string, unknown>;
const isObj = (v: unknown): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);
const kindOf = (v: unknown): string => (Array.isArray(v) ? "array" : v === null ? "null" : typeof v);
const camel = (s: string): string => s.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase());

/** Loads Envoy's protos lazily (by package directory) and checks values against them. */
export class EnvoyProtoChecker {
  private readonly root = new protobuf.Root();
  private readonly loadedDirs = new Set<string>();
  /** Every `@type` that could not be resolved, for the report. */
  readonly unresolvedTypes = new Set<string>();
  /** Set while checking a partial value: required rules are off. */
  private partial = false;

  /** `applyGaps: false` loads the package's protos exactly as shipped. */
  constructor(
    private readonly options: CheckOptions = {},
    applyGaps = true,
  ) {
    this.root.resolvePath = (_origin, target) => {
      for (const dir of INCLUDE_DIRS) {
        const p = path.join(dir, target);
        if (existsSync(p)) return p;
      }
      return target;
    };
    this.load(["envoy/config/bootstrap/v3/bootstrap.proto"]);
    if (applyGaps) for (const gap of SNAPSHOT_GAPS) this.applyGap(gap);
  }

  private load(files: string[]): void {
    this.root.loadSync(files, { keepCase: true });
  }

  private applyGap(gap: SnapshotGap): void {
    if (gap.typeFile !== undefined) this.load([gap.typeFile]);
    const type = this.findType(gap.message);
    if (type === undefined) throw new Error(`SNAPSHOT_GAPS: no message ${gap.message}`);
    if (type.fields[gap.field] !== undefined) return; // the snapshot has it now; the test reports this
    type.add(new protobuf.Field(gap.field, gap.id, gap.type.includes(".") ? `.${gap.type}` : gap.type));
  }

  /** Whether the package's own protos (without `SNAPSHOT_GAPS`) define this field. */
  snapshotHasField(message: string, field: string): boolean {
    const fresh = new EnvoyProtoChecker({}, false);
    return fresh.findType(message)?.fields[field] !== undefined;
  }

  /** Resolve a fully qualified message name, loading every .proto of its package directory on first use. */
  findType(fullName: string): protobuf.Type | undefined {
    const existing = this.lookup(fullName);
    if (existing !== undefined) return existing;
    const parts = fullName.split(".");
    const pkg = parts
      .slice(
        0,
        parts.findIndex((p) => /^[A-Z]/.test(p)),
      )
      .join("/");
    if (pkg === "" || this.loadedDirs.has(pkg)) return undefined;
    this.loadedDirs.add(pkg);
    const files = INCLUDE_DIRS.flatMap((d) => {
      const dir = path.join(d, pkg);
      return existsSync(dir) ? readdirSync(dir).filter((f) => f.endsWith(".proto")) : [];
    });
    if (files.length === 0) return undefined;
    this.load(files.map((f) => `${pkg}/${f}`));
    return this.lookup(fullName);
  }

  private lookup(fullName: string): protobuf.Type | undefined {
    const found = this.root.lookup(fullName);
    return found instanceof protobuf.Type ? found : undefined;
  }

  /**
   * All problems with `value` as a `typeName` message; `[]` means it passes. `partial` (an Istio MERGE value)
   * skips the required-field and required-oneof rules, since the rest comes from the object merged into.
   */
  check(
    value: unknown,
    typeName: string,
    at = "",
    { partial = false }: { partial?: boolean } = {},
  ): string[] {
    const errors: string[] = [];
    const type = this.findType(typeName);
    const outer = this.partial;
    this.partial = partial;
    try {
      if (type === undefined) errors.push(`${at || "<root>"}: type ${typeName} is not in the proto set`);
      else this.checkMessage(value, type, at, errors);
    } finally {
      this.partial = outer;
    }
    return errors;
  }

  /**
   * The message type reached by a JSON Pointer (as in an Envoy Gateway JSONPatch `path`) from `typeName`, and
   * whether the pointer ends on a field (`field`) or an element/whole message. Throws on a path that cannot exist.
   */
  typeAtPointer(
    typeName: string,
    pointer: string,
  ): { type: string; field?: protobuf.Field; element: boolean } {
    let type = this.findType(typeName);
    if (type === undefined) throw new Error(`type ${typeName} is not in the proto set`);
    const segs = pointer === "" ? [] : pointer.replace(/^\//, "").split("/");
    let field: protobuf.Field | undefined;
    let element = false;
    for (const seg of segs.map((s) => s.replace(/~1/g, "/").replace(/~0/g, "~"))) {
      if (field !== undefined && (field.repeated || field.map) && !element) {
        if (!(seg === "-" || /^\d+$/.test(seg) || field.map))
          throw new Error(`${pointer}: bad index "${seg}"`);
        element = true;
        continue;
      }
      if (type === undefined) throw new Error(`${pointer}: "${seg}" is inside a scalar`);
      const f = this.fieldByName(type, seg);
      if (f === undefined) throw new Error(`${pointer}: ${type.fullName.slice(1)} has no field "${seg}"`);
      f.resolve();
      field = f;
      element = false;
      type = f.resolvedType instanceof protobuf.Type ? f.resolvedType : undefined;
      if (type?.fullName === ".google.protobuf.Any")
        throw new Error(`${pointer}: cannot look through an Any`);
    }
    return { type: (type?.fullName ?? "").slice(1), ...(field ? { field } : {}), element };
  }

  /** Check a JSONPatch `add`/`replace` value placed at `pointer` inside a `typeName` resource. */
  checkAtPointer(value: unknown, typeName: string, pointer: string, at = "value"): string[] {
    const { field, element } = this.typeAtPointer(typeName, pointer);
    if (field === undefined) return this.check(value, typeName, at);
    const errors: string[] = [];
    if ((field.repeated || field.map) && !element) this.checkField(value, field, at, errors);
    else this.checkSingle(value, field, at, errors);
    return errors;
  }

  private fieldByName(type: protobuf.Type, key: string): protobuf.Field | undefined {
    return type.fields[key] ?? type.fieldsArray.find((f) => camel(f.name) === key);
  }

  private checkMessage(value: unknown, type: protobuf.Type, at: string, errors: string[]): void {
    const name = type.fullName.slice(1);
    if (this.checkWellKnown(value, name, at, errors)) return;
    if (!isObj(value)) {
      errors.push(`${at || "<root>"}: expected a ${name} object, got ${kindOf(value)}`);
      return;
    }
    if (name === "google.protobuf.Any") return this.checkAny(value, at, errors);
    const set = new Set<string>();
    for (const [key, v] of Object.entries(value)) {
      const p = joinPath(at, key);
      const field = this.fieldByName(type, key);
      if (field === undefined) {
        errors.push(
          `${p}: unknown field of ${name}${suggest(
            key,
            type.fieldsArray.map((f) => f.name),
          )}`,
        );
        continue;
      }
      if (set.has(field.name)) errors.push(`${p}: ${field.name} given twice (snake_case and camelCase)`);
      if (v !== null) set.add(field.name);
      if (field.options?.["deprecated"] === true && !this.options.allowDeprecated) {
        errors.push(`${p}: deprecated field of ${name}`);
      }
      if (v !== null) this.checkField(v, field, p, errors);
    }
    for (const f of type.fieldsArray) {
      // PGV applies a oneof member's rules only when that member is set.
      const required =
        !this.partial && f.options?.["(validate.rules).message.required"] === true && f.partOf === null;
      if (required && !set.has(f.name)) {
        errors.push(`${joinPath(at, f.name)}: required field of ${name} is missing`);
      }
    }
    for (const oneof of type.oneofsArray) {
      const members = oneof.oneof.filter((m) => set.has(m));
      if (members.length > 1) {
        errors.push(`${at || "<root>"}: ${members.join(" and ")} are all in oneof ${name}.${oneof.name}`);
      }
      if (members.length === 0 && !this.partial && oneof.options?.["(validate.required)"] === true) {
        errors.push(`${at || "<root>"}: ${name} needs one of ${oneof.oneof.join(", ")}`);
      }
    }
  }

  private checkField(value: unknown, field: protobuf.Field, at: string, errors: string[]): void {
    if (field.map) {
      if (!isObj(value)) return void errors.push(`${at}: expected a map (object), got ${kindOf(value)}`);
      for (const [k, v] of Object.entries(value)) this.checkSingle(v, field, joinPath(at, k), errors);
    } else if (field.repeated) {
      if (!Array.isArray(value)) return void errors.push(`${at}: expected a list, got ${kindOf(value)}`);
      value.forEach((v, i) => this.checkSingle(v, field, joinPath(at, i), errors));
    } else {
      this.checkSingle(value, field, at, errors);
    }
  }

  /** One value of the field's element type (a map value, a list item, or a singular field). */
  private checkSingle(value: unknown, field: protobuf.Field, at: string, errors: string[]): void {
    field.resolve();
    const resolved = field.resolvedType;
    if (resolved instanceof protobuf.Type) return this.checkMessage(value, resolved, at, errors);
    if (resolved instanceof protobuf.Enum) {
      const names = Object.keys(resolved.values);
      const ok =
        (typeof value === "string" && names.includes(value)) ||
        (typeof value === "number" && Object.values(resolved.values).includes(value));
      if (!ok) {
        const hint = typeof value === "string" ? suggest(value, names) : "";
        errors.push(
          `${at}: ${JSON.stringify(value)} is not a value of enum ${resolved.fullName.slice(1)}${hint}`,
        );
      }
      return;
    }
    const problem = scalarProblem(value, field.type);
    if (problem !== undefined) errors.push(`${at}: ${problem}`);
  }

  /** Well-known types with a special JSON form; returns false for ordinary messages. */
  private checkWellKnown(value: unknown, name: string, at: string, errors: string[]): boolean {
    const where = at || "<root>";
    const scalar = WRAPPERS[name];
    if (scalar !== undefined) {
      const problem = scalarProblem(value, scalar);
      if (problem !== undefined) errors.push(`${where}: ${problem} (${name})`);
      return true;
    }
    const bad = (want: string): void =>
      void errors.push(`${where}: expected ${want}, got ${JSON.stringify(value)}`);
    switch (name) {
      case "google.protobuf.Duration":
        if (typeof value !== "string" || !DURATION.test(value)) bad('a Duration string like "0.2s"');
        return true;
      case "google.protobuf.Timestamp":
        if (typeof value !== "string" || !TIMESTAMP.test(value)) bad("an RFC 3339 timestamp");
        return true;
      case "google.protobuf.FieldMask":
        if (typeof value !== "string") bad("a FieldMask string");
        return true;
      case "google.protobuf.Struct":
        if (!isObj(value)) bad("an object (Struct)");
        return true;
      case "google.protobuf.ListValue":
        if (!Array.isArray(value)) bad("a list (ListValue)");
        return true;
      case "google.protobuf.Value":
        return true;
      case "google.protobuf.Empty":
        if (!isObj(value) || Object.keys(value).length > 0) bad("{} (Empty)");
        return true;
      default:
        return false;
    }
  }

  private checkAny(value: Obj, at: string, errors: string[]): void {
    const url = value["@type"];
    const rest = Object.fromEntries(Object.entries(value).filter(([k]) => k !== "@type"));
    if (url === undefined && Object.keys(rest).length === 0) return; // an empty Any
    if (typeof url !== "string" || !url.includes("/")) {
      return void errors.push(
        `${joinPath(at, "@type")}: an Any needs "@type": "type.googleapis.com/<message>"`,
      );
    }
    const typeName = url.slice(url.lastIndexOf("/") + 1);
    const type = this.findType(typeName);
    if (type === undefined) {
      this.unresolvedTypes.add(typeName);
      return void errors.push(`${joinPath(at, "@type")}: ${typeName} is not in the proto set`);
    }
    if (SPECIAL_JSON.has(typeName)) {
      const extra = Object.keys(rest).filter((k) => k !== "value");
      if (extra.length > 0)
        errors.push(`${at}: an Any of ${typeName} holds only "value", not ${extra.join(", ")}`);
      return this.checkMessage(rest["value"], type, joinPath(at, "value"), errors);
    }
    this.checkMessage(rest, type, at, errors);
    const inner = rest["type_url"] ?? rest["typeUrl"];
    if (TYPED_STRUCTS.has(typeName) && typeof inner === "string") {
      const innerName = inner.slice(inner.lastIndexOf("/") + 1);
      errors.push(
        ...this.check(rest["value"] ?? {}, innerName, joinPath(at, "value"), { partial: this.partial }),
      );
    }
  }
}

let shared: EnvoyProtoChecker | undefined;
/** One checker per test file: loading the bootstrap closure takes a few hundred ms. */
export function envoyProtoChecker(): EnvoyProtoChecker {
  shared ??= new EnvoyProtoChecker();
  return shared;
}
