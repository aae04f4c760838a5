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
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count=3 ./runtime/... ./golden/... ./gen/... | $(GO) run ./internal/benchratio

# bench-peers: stategen's PostgreSQL backend against the LangGraph.js
# Postgres checkpointer (@langchain/langgraph-checkpoint-postgres), the
# same 12 fields saved and checkpointed on the same server: npm installs
# the peer into a scratch directory (never committed) and node runs it.
# Needs Node.js, npm and a PostgreSQL server (as for make test).
PEERS_DIR ?= $(CURDIR)/.stategen/peers
bench-peers:
	@mkdir -p $(PEERS_DIR)
	cd $(PEERS_DIR) && test -d node_modules/@langchain/langgraph-checkpoint-postgres || \
		npm install --no-audit --no-fund --silent @langchain/langgraph-checkpoint-postgres @langchain/core pg
	STATEGEN_PEERS_DIR=$(PEERS_DIR) $(GO) test -run '^$$' -bench 'Peer' -benchtime=200x -count=3 ./runtime/backends/postgres/ | $(GO) run ./internal/benchratio

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
