#!/usr/bin/env node
"use strict";
// The `kvroute` binary (`npx kvroute` in the repository): runs the compiled build (`make build`, `make run` or
// `npm run build` write it to dist/). In a source checkout that has not been built yet it runs the TypeScript
// sources through tsx instead (slower to start), so `npx kvroute --help` works right after `npm ci`.
require("./require-node.js");
const fs = require("node:fs");
const path = require("node:path");

const built = path.join(__dirname, "..", "dist", "src", "cli.js");
const source = path.join(__dirname, "..", "src", "cli.ts");
if (fs.existsSync(built)) {
  require(built);
} else {
  let tsx;
  try {
    tsx = require.resolve("tsx/cjs");
  } catch {
    tsx = undefined;
  }
  if (tsx === undefined || !fs.existsSync(source)) {
    process.stderr.write("kvroute is not built: run `make build` (or `npm run build`) first\n");
    process.exit(1);
  }
  require(tsx);
  require(source);
}
