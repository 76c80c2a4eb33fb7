#!/usr/bin/env node
"use strict";
// The `kvroute-sim` binary (simulated vLLM pods): runs the compiled build (`make build` or `npm run build` first).
require("./require-node.js");
require("../dist/src/sim/cli.js");
