import js from "@eslint/js";
import tseslint from "typescript-eslint";

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
    files: ["src/config/**/*.ts", "test/**/*.ts", "bench/**/*.ts"],
    rules: { "no-restricted-properties": "off" },
  },
  {
    // The simulator's command (not kvroute): it reads its own flags, never kvroute's configuration.
    files: ["src/sim/cli.ts"],
    rules: { "no-restricted-properties": "off" },
  },
);
