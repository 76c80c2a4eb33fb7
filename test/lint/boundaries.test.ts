/**
 * The dependency table is enforced: the repository's own ESLint configuration, run through ESLint's Node API
 * (in a child process, `lint-snippets.mjs`: the configuration is an ES module Jest cannot load) on small snippets
 * under made-up file names, reports each wrong-way import the table forbids (an observability
 * file calling ext_proc, a deep import into a cluster file, prefix importing routing, routing importing usage) and
 * lets the allowed ones through. The snippets need not exist on disk: the rule judges paths, not files. The same
 * run checks that src/ may import a package loaded on first use (`LOADED_ON_FIRST_USE`) only as a type.
 */
import { execFileSync } from "node:child_process";
import path from "node:path";

const repo = path.resolve(__dirname, "../..");
const RULE = "kvroute/area-boundaries";

interface Snippet {
  readonly what: string;
  readonly file: string;
  readonly code: string;
}
interface LintMessage {
  readonly ruleId: string | null;
  readonly message: string;
  readonly fatal: boolean;
}

const WRONG: readonly (Snippet & { readonly says: RegExp })[] = [
  {
    what: "observability importing ext_proc",
    file: "src/observability/x.ts",
    code: 'import type { SessionHooks } from "../extproc";\nexport type T = SessionHooks;\n',
    says: /may not import area 'extproc'/,
  },
  {
    what: "a deep import into cluster internals",
    file: "src/routing/x.ts",
    code: 'import type { Pod } from "../cluster/pod";\nexport type T = Pod;\n',
    says: /reaches inside area 'cluster'.*'\.\.\/cluster'/,
  },
  {
    what: "a deep import into a cluster sub-area from the wiring",
    file: "src/x.ts",
    code: 'import { startScraper } from "./cluster/metrics/scraper";\nexport const s = startScraper;\n',
    says: /reaches inside area 'cluster'/,
  },
  {
    what: "prefix importing routing",
    file: "src/prefix/x.ts",
    code: 'import type { RoutingContext } from "../routing";\nexport type T = RoutingContext;\n',
    says: /may not import area 'routing'/,
  },
  {
    what: "routing importing usage",
    file: "src/routing/strategies/slo/x.ts",
    code: 'import type { UserAdmission } from "../../../usage";\nexport type T = UserAdmission;\n',
    says: /may not import area 'usage'/,
  },
  {
    what: "usage importing ext_proc",
    file: "src/usage/x.ts",
    code: 'import type { SessionDeps } from "../extproc";\nexport type T = SessionDeps;\n',
    says: /may not import area 'extproc'/,
  },
  {
    what: "an area importing a wiring file",
    file: "src/routing/x.ts",
    code: 'import { createServer } from "../server";\nexport const c = createServer;\n',
    says: /may not import the wiring file 'server'/,
  },
  {
    what: "a value import where only types are allowed (prefix from tokenize)",
    file: "src/prefix/x.ts",
    code: 'import { createTokenizerRegistry } from "../tokenize";\nexport const c = createTokenizerRegistry;\n',
    says: /only types from area 'tokenize'/,
  },
  {
    what: "the simulator importing kvroute's parser",
    file: "src/sim/server/x.ts",
    code: 'import { parseRequest } from "../../request";\nexport const p = parseRequest;\n',
    says: /may not import area 'request'/,
  },
  {
    what: "a file in a folder the table does not know",
    file: "src/newarea/x.ts",
    code: "export const x = 1;\n",
    says: /Area 'newarea' has no row/,
  },
];

const ALLOWED: readonly Snippet[] = [
  {
    what: "routing importing cluster's index",
    file: "src/routing/x.ts",
    code: 'import type { Pod } from "../cluster";\nexport type T = Pod;\n',
  },
  {
    what: "a deep import inside the file's own area (a cluster sub-area reaching its parent)",
    file: "src/cluster/discovery/x.ts",
    code: 'import type { Pod } from "../pod";\nexport type T = Pod;\n',
  },
  {
    what: "any area importing the shared error set",
    file: "src/observability/x.ts",
    code: 'import { Code } from "../errors";\nexport const c = Code.BadRequest;\n',
  },
  {
    what: "prefix importing tokenize's types",
    file: "src/prefix/x.ts",
    code: 'import type { TokenizerRegistry } from "../tokenize";\nexport type T = TokenizerRegistry;\n',
  },
  {
    what: "the wiring importing every area's index",
    file: "src/x.ts",
    code: 'export type { UserAdmission } from "./usage";\nexport type { SessionDeps } from "./extproc";\n',
  },
  {
    what: "ext_proc importing routing's index",
    file: "src/extproc/x.ts",
    code: 'import type { PreRouteHook } from "../routing";\nexport type T = PreRouteHook;\n',
  },
];

/** Lint every snippet in one child process (loading ESLint and typescript-eslint once); messages per snippet. */
function lintAll(snippets: readonly Snippet[]): LintMessage[][] {
  const stdout = execFileSync(process.execPath, [path.join(__dirname, "lint-snippets.mjs")], {
    cwd: repo,
    input: JSON.stringify(snippets.map((s) => ({ code: s.code, filePath: s.file }))),
    encoding: "utf8",
  });
  return JSON.parse(stdout) as LintMessage[][];
}

/** A package only some configurations use, imported as a value and as a type (see `LOADED_ON_FIRST_USE`). */
const FIRST_USE_VALUE: Snippet = {
  what: "a value import of ioredis",
  file: "src/usage/x.ts",
  code: 'import { Redis } from "ioredis";\nexport const R = Redis;\n',
};
const FIRST_USE_TYPE: Snippet = {
  what: "a type import of ioredis",
  file: "src/usage/x.ts",
  code: 'import type { Redis } from "ioredis";\nexport type R = Redis;\n',
};

let results: LintMessage[][] = [];
beforeAll(() => {
  results = lintAll([...WRONG, ...ALLOWED, FIRST_USE_VALUE, FIRST_USE_TYPE]);
}, 60_000);

describe("area boundaries (docs/architecture.md)", () => {
  /** The boundary messages of snippet `i`; a parse or configuration failure fails the test instead. */
  const boundaryMessages = (i: number): string[] => {
    const messages = results[i] ?? [];
    expect(messages.filter((m) => m.fatal)).toEqual([]);
    return messages.filter((m) => m.ruleId === RULE).map((m) => m.message);
  };

  it("linted every snippet", () => {
    expect(results).toHaveLength(WRONG.length + ALLOWED.length + 2);
  });

  it.each(WRONG.map((s, i) => ({ ...s, i })))("reports $what", ({ i, says }) => {
    const messages = boundaryMessages(i);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatch(says);
  });

  it.each(ALLOWED.map((s, i) => ({ ...s, i: WRONG.length + i })))("allows $what", ({ i }) => {
    expect(boundaryMessages(i)).toEqual([]);
  });
});

describe("packages loaded on first use (eslint.config.mjs)", () => {
  const FIRST_USE_RULE = "@typescript-eslint/no-restricted-imports";
  const messagesOf = (i: number): LintMessage[] =>
    (results[i] ?? []).filter((m) => m.ruleId === FIRST_USE_RULE);
  const base = WRONG.length + ALLOWED.length;

  it("reports a value import in src/ (it would load the package with the module)", () => {
    const messages = messagesOf(base);
    expect(messages).toHaveLength(1);
    expect(messages[0]?.message).toMatch(/'ioredis' import is restricted.*where its feature starts/);
  });

  it("allows a type import (erased: nothing loads)", () => {
    expect(results[base + 1]?.filter((m) => m.fatal)).toEqual([]);
    expect(messagesOf(base + 1)).toEqual([]);
  });
});
