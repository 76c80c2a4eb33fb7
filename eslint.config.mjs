import js from "@eslint/js";
import tseslint from "typescript-eslint";
import kvroute from "./scripts/eslint/area-boundaries.mjs";

/**
 * The dependency table of docs/architecture.md: which areas of src/ each area may import (through their index.ts).
 * Every area may import the shared loose files below; the other loose files of src/ are the wiring layer, which
 * may import every area and which no area imports. Keep this and the table in the docs the same.
 */
export const AREA_BOUNDARIES = {
  root: "src",
  shared: [
    "errors",
    "client-echo",
    "seeded-random",
    "background-thread-priority",
    "state-change-log",
    "bearer-token",
  ],
  areas: {
    config: {},
    observability: {},
    request: { imports: ["observability"] },
    response: { imports: ["observability"] },
    // The tokenizer workers compute block keys with prefix's hashing; prefix drives a tokenizer by its types only.
    tokenize: { imports: ["prefix", "observability"] },
    prefix: { imports: ["request", "observability"], importsTypes: ["tokenize"] },
    cluster: { imports: ["observability"] },
    kvevents: { imports: ["cluster", "prefix", "observability"] },
    routing: { imports: ["cluster", "prefix", "request", "observability"] },
    usage: { imports: ["cluster", "routing", "request", "observability"] },
    extproc: { imports: ["cluster", "prefix", "request", "response", "routing", "observability"] },
    admin: { imports: ["cluster", "observability"] },
    // The simulator stands in for the engines: it parses and tokenizes with its own code, so it can catch kvroute's bugs.
    sim: {},
  },
};

/**
 * Packages that only some configurations use: src/ loads each with a `require` where its feature starts (typed by
 * an `import type`), never with an import that runs when the module loads. Every jest test file loads its modules
 * anew, so one such import in a module the server imports costs each of the ~60 files that build a server its load
 * time (docs/testing.md). The simulator is not kvroute and imports them as it likes.
 */
export const LOADED_ON_FIRST_USE = [
  "tiktoken",
  "@huggingface/tokenizers",
  "@huggingface/jinja",
  "ioredis",
  "zeromq",
  "@msgpack/msgpack",
  "yaml",
  "selfsigned",
];

export default tseslint.config(
  { ignores: ["node_modules/**", "dist/**", "coverage/**", "bin/**", "jest.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    files: ["**/*.ts"],
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      // Configuration is read in one place only (src/config); everything else receives a Config.
      "no-restricted-properties": [
        "error",
        { object: "process", property: "env", message: "Read configuration only in src/config." },
        { object: "process", property: "argv", message: "Read configuration only in src/config." },
      ],
    },
  },
  {
    files: ["src/**/*.ts"],
    plugins: { kvroute },
    rules: { "kvroute/area-boundaries": ["error", AREA_BOUNDARIES] },
  },
  {
    files: ["src/**/*.ts"],
    ignores: ["src/sim/**"],
    rules: {
      "@typescript-eslint/no-restricted-imports": [
        "error",
        {
          paths: LOADED_ON_FIRST_USE.map((name) => ({
            name,
            allowTypeImports: true,
            message:
              "Load it where its feature starts (`require`, typed by `import type`): see eslint.config.mjs.",
          })),
        },
      ],
    },
  },
  {
    files: ["src/config/**/*.ts", "test/**/*.ts", "bench/**/*.ts"],
    rules: { "no-restricted-properties": "off" },
  },
  {
    // The simulator's command (not kvroute): it reads its own flags, never kvroute's configuration.
    files: ["src/sim/cli.ts"],
    rules: { "no-restricted-properties": "off" },
  },
);
