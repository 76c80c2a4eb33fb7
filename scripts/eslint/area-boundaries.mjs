/**
 * ESLint rule `kvroute/area-boundaries`: the dependency table of `docs/architecture.md`, enforced.
 *
 * Every folder directly under the source root is an area. A file may import, by relative path:
 * - anything inside its own area (sub-folders included);
 * - another area only through that area's `index.ts` (`../cluster`, never `../cluster/pod`), and only an area its
 *   row allows (some only with `import type`);
 * - a shared loose file of the root (the closed error set and a few leaf helpers), which imports nothing of kvroute.
 * The other loose files of the root are the wiring layer: they may import every area's index, and no area may
 * import them. An area missing from the table is reported, so a new folder gets a row before it gets imports.
 *
 * Resolution is by path alone (no file system), so the rule also judges code that does not exist yet (the tests
 * lint fixture snippets under made-up file names).
 *
 * @module
 */
import path from "node:path";

const WIRING = "(wiring)";

/** Strip a TypeScript or JavaScript extension. */
function bare(p) {
  return p.replace(/\.(ts|mts|cts|js|mjs|cjs)$/, "");
}

/**
 * Where a path sits: `{ area, index }` inside (or naming) an area's folder, `{ loose }` for a loose file of the
 * root, or null outside the root. A bare name that is an area of the table is that area's folder (its index).
 */
function placeOf(root, areas, file) {
  const rel = path.relative(root, file);
  if (rel === "" || rel.startsWith("..") || path.isAbsolute(rel)) return null;
  const parts = bare(rel).split(path.sep);
  if (parts.length === 1) return parts[0] in areas ? { area: parts[0], index: true } : { loose: parts[0] };
  return { area: parts[0], index: parts.length === 2 && parts[1] === "index" };
}

/** @type {import("eslint").Rule.RuleModule} */
export const areaBoundaries = {
  meta: {
    type: "problem",
    docs: { description: "Imports between source areas follow the dependency table (docs/architecture.md)." },
    schema: [
      {
        type: "object",
        properties: {
          root: { type: "string" },
          shared: { type: "array", items: { type: "string" } },
          areas: {
            type: "object",
            additionalProperties: {
              type: "object",
              properties: {
                imports: { type: "array", items: { type: "string" } },
                importsTypes: { type: "array", items: { type: "string" } },
              },
              additionalProperties: false,
            },
          },
        },
        required: ["root", "shared", "areas"],
        additionalProperties: false,
      },
    ],
    messages: {
      deep: "'{{spec}}' reaches inside area '{{to}}': import what it exposes from its index ('{{index}}').",
      direction: "Area '{{from}}' may not import area '{{to}}' (docs/architecture.md, dependency table).",
      typeOnly: "Area '{{from}}' may import only types from area '{{to}}': use `import type`.",
      wiring:
        "Area '{{from}}' may not import the wiring file '{{to}}': the wiring knows the areas, not the reverse.",
      shared: "The shared file '{{from}}' imports nothing of kvroute but other shared files.",
      unknown:
        "Area '{{area}}' has no row in the dependency table (eslint.config.mjs, docs/architecture.md).",
    },
  },
  create(context) {
    const opts = context.options[0];
    const root = path.resolve(context.cwd, opts.root);
    const shared = new Set(opts.shared);
    const file = context.filename;
    const here = placeOf(root, opts.areas, file);
    if (here === null) return {};
    const from = here.area ?? (shared.has(here.loose) ? `shared:${here.loose}` : WIRING);

    function check(node, source, typeOnly) {
      const spec = source.value;
      if (typeof spec !== "string" || !spec.startsWith(".")) return;
      const there = placeOf(root, opts.areas, path.resolve(path.dirname(file), spec));
      if (there === null) return;
      const report = (messageId, data) => context.report({ node: source, messageId, data });
      if (from.startsWith("shared:")) {
        if (!(there.loose !== undefined && shared.has(there.loose)))
          report("shared", { from: from.slice("shared:".length) });
        return;
      }
      if (there.loose !== undefined) {
        if (shared.has(there.loose) || from === WIRING) return;
        return report("wiring", { from, to: there.loose });
      }
      const to = there.area;
      if (to === from) return;
      if (!(to in opts.areas)) return report("unknown", { area: to });
      if (!there.index) {
        let index = path.relative(path.dirname(file), path.join(root, to));
        if (!index.startsWith(".")) index = `./${index}`;
        report("deep", { spec, to, index });
      }
      if (from === WIRING) return;
      const row = opts.areas[from];
      if (row.imports?.includes(to)) return;
      if (row.importsTypes?.includes(to)) {
        if (!typeOnly) report("typeOnly", { from, to });
        return;
      }
      report("direction", { from, to });
    }

    return {
      Program(node) {
        if (here.area !== undefined && !(here.area in opts.areas)) {
          context.report({ node, messageId: "unknown", data: { area: here.area } });
        }
      },
      ImportDeclaration(node) {
        const typeOnly =
          node.importKind === "type" ||
          (node.specifiers.length > 0 && node.specifiers.every((s) => s.importKind === "type"));
        check(node, node.source, typeOnly);
      },
      ExportNamedDeclaration(node) {
        if (node.source) check(node, node.source, node.exportKind === "type");
      },
      ExportAllDeclaration(node) {
        check(node, node.source, node.exportKind === "type");
      },
      ImportExpression(node) {
        if (node.source.type === "Literal") check(node, node.source, false);
      },
    };
  },
};

/** The plugin object for `eslint.config.mjs`. */
export default { rules: { "area-boundaries": areaBoundaries } };
