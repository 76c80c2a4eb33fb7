#!/usr/bin/env node
"use strict";
// The `kvroute` binary: runs the compiled build (`make build` or `npm run build` first).
require("./require-node.js");
require("../dist/src/cli.js");
