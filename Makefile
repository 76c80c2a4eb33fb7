# kvroute — the two commands a new machine needs: `make run` and `make test`.
SHELL := /bin/bash
NPM_STAMP := node_modules/.package-lock.json
GRPC_PORT ?= 50052
HTTP_PORT ?= 8080
ENDPOINTS ?= examples/endpoints.yaml
ROUTING_ALGORITHM ?= least-request

.PHONY: run build test lint typecheck jest bench clean

# Install exactly what package-lock.json pins, whenever it is missing or older than the lock.
$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund

build: $(NPM_STAMP)
	rm -rf dist && npx tsc -p tsconfig.build.json

# Standalone kvroute on the example fleet (3 local endpoints for one model): gRPC :50052, HTTP :8080.
run: build
	ROUTING_ALGORITHM=$(ROUTING_ALGORITHM) node bin/kvroute.js --standalone --endpoints-config $(ENDPOINTS) \
		--grpc-bind-address :$(GRPC_PORT) --http-bind-address :$(HTTP_PORT)

lint: $(NPM_STAMP)
	npx eslint .
	npx prettier --check .

typecheck: $(NPM_STAMP)
	npx tsc --noEmit -p tsconfig.json

jest: $(NPM_STAMP)
	npx jest $(JEST_ARGS)

# lint + typecheck + every test.
test: lint typecheck jest

bench: build
	npm run bench -- $(BENCH_ARGS)

clean:
	rm -rf dist coverage jest-result.json
