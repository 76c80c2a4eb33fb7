#!/usr/bin/env node
"use strict";
// The `kvroute-sim` binary (simulated vLLM pods): runs the tools build (`npm run build:tools`
// first; the production build, `npm run build`, leaves the simulator out).
require("./require-node.js");
require("../dist/src/sim/cli.js");
