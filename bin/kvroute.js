#!/usr/bin/env node
"use strict";
// Entry point of the `kvroute` binary: runs the compiled build (`npm run build` / `make build`).
const { main } = require("../dist/src/main.js");
main().then(
  (code) => {
    process.exit(code);
  },
  (err) => {
    process.stderr.write(`kvroute: fatal: ${err && err.stack ? err.stack : String(err)}\n`);
    process.exitCode = 1;
  },
);
