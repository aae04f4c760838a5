# stategen's tasks. `make test` is what CI runs (.ci/run).
GO ?= go
SHELL := /bin/bash
.SHELLFLAGS := -o pipefail -c

.PHONY: demo test e2e screenshots chaos bench bench-peers lint golden

# demo: generate, build and run the ADW example on the embedded SQLite
# default (.stategen/state.db): a run that crashes in a phase, then resumes.
demo:
	$(GO) generate ./examples/adw
	$(GO) build -o .stategen/adw ./examples/adw
	./.stategen/adw demo

# test: vet, then every test with the race detector. Redis tests start their
# own redis-server; set STATEGEN_REQUIRE_REDIS=1 to fail instead of skipping
# when it is missing. PostgreSQL tests use the server on 127.0.0.1:5432 (or
# $STATEGEN_POSTGRES_URL); STATEGEN_REQUIRE_POSTGRES=1 fails without one.
test:
	$(GO) vet ./...
	$(GO) test -race -count=1 ./...

# e2e: the browser tests of stategen serve, in Debian's headless Chromium
# (apt-get install chromium); they skip without it unless
# STATEGEN_REQUIRE_CHROMIUM=1. Screenshots of each step go to
# $STATEGEN_E2E_OUT (a temporary directory when unset).
e2e:
	$(GO) test -tags e2e -count=1 ./cmd/stategen -run TestBrowser

# screenshots: the same run, also writing the README's pictures
# docs/serve-runs.png and docs/serve-diff.png; review and commit them.
screenshots:
	@mkdir -p docs
	STATEGEN_SCREENSHOTS=$(CURDIR)/docs STATEGEN_REQUIRE_CHROMIUM=1 $(GO) test -tags e2e -count=1 ./cmd/stategen -run TestBrowser

# chaos: the fault suite in full (backendtest.Chaos on every backend: a
# lossy network and server kills for Redis, schema-less updates, cache races
# and corrupt checkpoints everywhere), then its table of faults injected,
# operations acknowledged, unknown outcomes and violations. It fails on any
# violation, and without redis-server.
chaos:
	@mkdir -p .stategen && rm -f .stategen/chaos.jsonl
	STATEGEN_CHAOS=full STATEGEN_CHAOS_REPORT=$(CURDIR)/.stategen/chaos.jsonl STATEGEN_REQUIRE_REDIS=1 \
		$(GO) test -count=1 -timeout 30m -run '^TestChaos$$' ./runtime/backends/...; \
		status=$$?; $(GO) run ./internal/chaosreport .stategen/chaos.jsonl && exit $$status

# bench: the runtime's benchmarks, each beside the raw driver call it wraps.
# One package at a time (-p 1): on a machine of two cores, two packages'
# benchmarks running at once would each skew the other's ratios.
bench:
	$(GO) test -p 1 -run '^$$' -bench . -benchmem -count=3 ./runtime/... ./golden/... ./gen/... | $(GO) run ./internal/benchratio

# bench-peers: stategen against its peers, in one run on the same 12-field
# state and workloads (bench/peers): the Python StateManager it replaces (its
# JSON and SQLite backends) and LangGraph.js's SQLite and PostgreSQL
# checkpointers. It prints one table: each system's median over interleaved
# rounds and its ratio to stategen at equal durability. npm installs the
# pinned peers into PEERS_DIR, a scratch directory never committed (once, and
# again when the pins change). Needs node 20 and npm (better-sqlite3 builds
# with make and g++ when no prebuilt binary downloads), python3, a PostgreSQL
# server as for make test, and the StateManager's source, which is not part of
# this repository: STATE_MANAGER names its state_manager.py (absent, the
# Python rows are skipped with a message). PEERS_ROUNDS sets the timed rounds.
PEERS_DIR ?= $(CURDIR)/.stategen/peers
PEERS_ROUNDS ?= 5
STATE_MANAGER ?= $(CURDIR)/../shared/reference/state_manager.py
PEERS_NPM := @langchain/langgraph-checkpoint@1.2.2 @langchain/core@1.4.0 \
	@langchain/langgraph-checkpoint-sqlite@1.0.4 better-sqlite3@12.11.1 \
	@langchain/langgraph-checkpoint-postgres@1.0.5 pg@8.23.1
bench-peers:
	@mkdir -p $(PEERS_DIR)
	@cd $(PEERS_DIR) && if [ "$$(cat installed 2>/dev/null)" != "$(PEERS_NPM)" ]; then \
		echo "npm install $(PEERS_NPM)" && \
		npm install --no-audit --no-fund --silent --save-exact $(PEERS_NPM) && \
		echo "$(PEERS_NPM)" > installed; fi
	STATEGEN_PEERS_DIR=$(PEERS_DIR) STATEGEN_STATE_MANAGER=$(STATE_MANAGER) \
		$(GO) test -count=1 -timeout 60m -v -run '^TestPeers$$' ./bench/peers -args -peers.rounds=$(PEERS_ROUNDS)

# lint: formatting, vet and staticcheck (pinned in go.mod as a tool).
lint:
	@test -z "$$(gofmt -l . | tee /dev/stderr)" || (echo "gofmt: the files above need formatting" && exit 1)
	$(GO) vet ./...
	$(GO) vet -tags e2e ./cmd/stategen
	$(GO) tool staticcheck ./...

# golden: rewrite the generator's golden files from what it makes now;
# review the diff before committing it.
golden:
	$(GO) test ./gen -run TestGolden -update
