# extproc-authz: everything a fresh machine with Node 20+ and make needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NODE ?= node
BIN := node_modules/.bin
VENDOR := proto/vendor
XDS_DEPS := node_modules/@grpc/grpc-js-xds/deps
DESCRIPTOR := dist/proto/extproc-authz.binpb
TEST_FILES = $(shell find dist/test -name '*.test.js' -not -path 'dist/test/lab/*' | sort)

.PHONY: help install proto build compile schema lint format test run clean fuzz bench soak

help: ## list targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: node_modules/.installed ## install npm dependencies (npm ci)
node_modules/.installed: package.json package-lock.json
	# npm ci: npm 11 rejects a lockfile it just wrote (optional per-platform packages), so install.
	npm install --no-audit --no-fund --loglevel=error
	@touch $@

# Envoy API protos from @grpc/grpc-js-xds, linked so proto/buf.yaml can name them as modules.
$(VENDOR)/.linked: node_modules/.installed
	@mkdir -p $(VENDOR)
	@for m in envoy-api xds googleapis protoc-gen-validate; do ln -sfn ../../$(XDS_DEPS)/$$m $(VENDOR)/$$m; done
	@touch $@

PROTO_SRC := $(shell find proto/extproc_authz -name '*.proto' 2>/dev/null)

proto: $(DESCRIPTOR) src/gen/.generated ## build the descriptor set (buf) and TypeScript types
$(DESCRIPTOR): $(VENDOR)/.linked proto/buf.yaml $(PROTO_SRC)
	@mkdir -p $(dir $@)
	cd proto && ../$(BIN)/buf build -o ../$@ \
	  --path vendor/envoy-api/envoy/service/ext_proc/v3/external_processor.proto \
	  $(patsubst proto/%,--path %,$(PROTO_SRC))

src/gen/.generated: $(VENDOR)/.linked $(PROTO_SRC)
	@rm -rf src/gen && mkdir -p src/gen
	$(BIN)/proto-loader-gen-types --keepCase --longs=String --enums=String --defaults --oneofs \
	  --grpcLib=@grpc/grpc-js --outDir=src/gen \
	  --includeDirs $(VENDOR)/envoy-api $(VENDOR)/xds $(VENDOR)/googleapis $(VENDOR)/protoc-gen-validate proto/extproc_authz \
	  -- envoy/service/ext_proc/v3/external_processor.proto $(patsubst proto/extproc_authz/%,%,$(PROTO_SRC)) >/dev/null
	@# The generator writes extension-less relative imports; NodeNext ESM needs '.js'.
	@find src/gen -name '*.ts' -exec sed -i -E "s#(from '\.{1,2}/[^']*)';#\1.js';#" {} +
	@touch $@

build: compile ## compile TypeScript into dist/ (make schema regenerates the config schema and reference)

compile: proto
	$(BIN)/tsc -p tsconfig.json
	@chmod +x dist/src/cli/main.js

schema: compile ## after changing src/config: regenerate schema/config.schema.json and docs/config-reference.md from src/config/schema.ts
	$(NODE) dist/src/config/write-generated.js

lint: install ## biome format + lint check (warnings are errors)
	$(BIN)/biome ci --error-on-warnings .

format: install ## apply biome formatting and safe fixes
	$(BIN)/biome check --write .

test: build lint ## install, build, lint and run every test
	$(NODE) --test --test-reporter=spec $(TEST_FILES)

FUZZ_RUNS ?= 20000
fuzz: build ## property-based tests with a long budget (FUZZ_RUNS=20000)
	FUZZ_RUNS=$(FUZZ_RUNS) $(NODE) --test --test-reporter=spec dist/test/property/

run: build ## serve on the embedded default config (plaintext 127.0.0.1:50051)
	$(NODE) dist/src/cli/main.js serve

bench: build ## standard benchmark scenarios (needs h2load, taskset); results in bench/results/
	$$(command -v taskset >/dev/null && echo taskset -c 1) $(NODE) dist/bench/run.js $(BENCH_ARGS)

SOAK_SECONDS ?= 600
SOAK_RATE ?= 500
soak: build ## real server at steady mixed load for SOAK_SECONDS (600) at SOAK_RATE/s (500): memory + errors -> bench/results/soak-*
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_RATE=$(SOAK_RATE) $(NODE) dist/bench/soak.js

clean: ## remove build output
	rm -rf dist src/gen $(VENDOR)

.PHONY: lab-test
lab-test: ## run the docker-compose lab tests (skips with one line when no Docker engine runs)
	@if ! docker info >/dev/null 2>&1; then echo "lab-test: SKIPPED: no Docker engine reachable (docker info failed); the lab needs Docker Compose"; exit 0; fi; \
	echo "lab-test: docker-compose lab not yet built (issue 5 unfinished)"; exit 1
