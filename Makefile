# Kairos. `make test` is what CI runs (see .ci/run).
SHELL := /bin/bash
GO ?= go
PROTO := api/proto/kairos/v1/kairos.proto
PROTO_GEN := api/proto/kairos/v1/kairos.pb.go api/proto/kairos/v1/kairos_grpc.pb.go
PROTOC_FLAGS = -I api/proto --plugin=protoc-gen-go=bin/protoc-gen-go --plugin=protoc-gen-go-grpc=bin/protoc-gen-go-grpc

.PHONY: test deps vet proto proto-check bench fuzz build run models

## test: everything CI checks — generated code fresh, go vet, race tests against real servers.
test: deps proto-check vet
	$(GO) test -race -count=1 ./...

## deps: install missing test dependencies (redis-server, postgresql, protoc, pinned plugins).
deps:
	@.ci/install-deps

vet:
	$(GO) vet ./...
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' | grep -v '\.pb\.go$$')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi

## proto: regenerate the checked-in Go code from the .proto.
proto: deps
	protoc $(PROTOC_FLAGS) --go_out=. --go_opt=module=kairos --go-grpc_out=. --go-grpc_opt=module=kairos $(PROTO)

## proto-check: fail when the checked-in generated code is stale.
proto-check: deps
	@tmp=$$(mktemp -d); trap 'rm -rf $$tmp' EXIT; \
	protoc $(PROTOC_FLAGS) --go_out=$$tmp --go_opt=module=kairos --go-grpc_out=$$tmp --go-grpc_opt=module=kairos $(PROTO); \
	for f in $(PROTO_GEN); do \
	  if ! diff -q <(grep -v '^//.*protoc ' $$f) <(grep -v '^//.*protoc ' $$tmp/$$f) >/dev/null; then \
	    echo "$$f is stale: run 'make proto' and commit the result"; exit 1; fi; \
	done; echo "proto-check: generated code is up to date"

## bench: Go benchmarks of the hot paths, the end-to-end gRPC benchmarks (embedded, and Redis with PostgreSQL), the dispatcher to local provider fakes beside direct sends, scoring beside LightGBM, then the export on a simulated archive.
bench: deps
	$(GO) test -run '^$$' -bench . -benchmem ./...
	$(GO) run ./cmd/kairos bench track --json
	$(GO) run ./cmd/kairos bench profile --json
	.ci/with-redis $(GO) run ./cmd/kairos bench track --json --redis '$$REDIS_URL'
	.ci/with-redis $(GO) run ./cmd/kairos bench profile --json --redis '$$REDIS_URL'
	$(GO) run ./cmd/kairos bench decide --json
	.ci/with-redis .ci/with-postgres $(GO) run ./cmd/kairos bench decide --json --redis '$$REDIS_URL' --postgres '$$POSTGRES_URL'
	$(GO) run ./cmd/kairos bench dispatch --json
	.ci/with-redis $(GO) run ./cmd/kairos bench dispatch --json --redis '$$REDIS_URL'
	$(GO) build -o bin/kairos ./cmd/kairos && bin/kairos bench score --json && bin/kairos bench export --json

## fuzz: run each fuzz target for FUZZTIME (default 20s).
FUZZTIME ?= 20s
fuzz:
	$(GO) test ./features -run '^$$' -fuzz '^FuzzValidateEvent$$' -fuzztime $(FUZZTIME)
	$(GO) test ./features -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./features -run '^$$' -fuzz '^FuzzDecodeLogEntry$$' -fuzztime $(FUZZTIME)
	$(GO) test ./internal/server -run '^$$' -fuzz '^FuzzParseKeys$$' -fuzztime $(FUZZTIME)
	$(GO) test ./features -run '^$$' -fuzz '^FuzzParseProps$$' -fuzztime $(FUZZTIME)
	$(GO) test ./models/lgbm -run '^$$' -fuzz '^FuzzParse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./models/lgbm -run '^$$' -fuzz '^FuzzParseTree$$' -fuzztime $(FUZZTIME)
	$(GO) test ./decisioning -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME)
	$(GO) test ./decisioning -run '^$$' -fuzz '^FuzzDecisionBinary$$' -fuzztime $(FUZZTIME)
	$(GO) test ./decisioning/bandit -run '^$$' -fuzz '^FuzzStateJSON$$' -fuzztime $(FUZZTIME)
	$(GO) test ./dispatch -run '^$$' -fuzz '^FuzzParseConfig$$' -fuzztime $(FUZZTIME)
	$(GO) test ./channels/email -run '^$$' -fuzz '^FuzzBuild$$' -fuzztime $(FUZZTIME)
	$(GO) test ./channels/push -run '^$$' -fuzz '^FuzzClassify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./channels/push -run '^$$' -fuzz '^FuzzServiceAccountCredentials$$' -fuzztime $(FUZZTIME)
	$(GO) test ./channels/push -run '^$$' -fuzz '^FuzzTokenResponse$$' -fuzztime $(FUZZTIME)
	$(GO) test ./channels/sms -run '^$$' -fuzz '^FuzzClassify$$' -fuzztime $(FUZZTIME)
	$(GO) test ./channels/webhook -run '^$$' -fuzz '^FuzzVerify$$' -fuzztime $(FUZZTIME)

## models: retrain the shipped models (models/shipped) end to end: a seeded simulation, its export
## (snapshots from day 31 to the last day whose 30-day labels are known), training/train.py.
MODELS_WORK ?= tmp/models
MODELS_SEED := 7
MODELS_END := 2026-11-01
MODELS_VERSION := $(subst -,,$(MODELS_END))-s$(MODELS_SEED)
models: deps
	rm -rf $(MODELS_WORK) && mkdir -p $(MODELS_WORK)
	$(GO) run ./cmd/kairos simulate --customers 20000 --days 90 --seed $(MODELS_SEED) --end $(MODELS_END) --out $(MODELS_WORK)/world
	$(GO) run ./cmd/kairos export --archive $(MODELS_WORK)/world --from 2026-09-02 --to 2026-10-01 \
	  --labels churn30,purchase7,next_category14 --out $(MODELS_WORK)/train.parquet
	rm -rf $(MODELS_WORK)/world
	python3 -m training.train --data $(MODELS_WORK)/train.parquet --out $(MODELS_WORK)/shipped --version $(MODELS_VERSION)
	rm -rf models/shipped/churn models/shipped/propensity models/shipped/nba
	cp -R $(MODELS_WORK)/shipped/. models/shipped/
	@ls -l models/shipped/*/$(MODELS_VERSION)/

build:
	$(GO) build -o bin/kairos ./cmd/kairos

run:
	$(GO) run ./cmd/kairos serve
