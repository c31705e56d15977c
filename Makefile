# berth — the two commands that matter: `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/berth-registry/berth/internal/app.Version=$(VERSION)
TOOLS    ?= $(HOME)/.cache/berth-tools
FUZZTIME ?= 10s

.PHONY: run build image deploy-check test unit lint conformance fuzz bench bench-smoke clients-report clean

## run: start the registry on :5000 with data in ./data (embedded default)
run:
	$(GO) run ./cmd/berth serve

## build: a static binary in bin/berth
build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o bin/berth ./cmd/berth

## image: the container image $(IMAGE) (static binary on scratch) from bin/berth and the host's
## CA bundle, with deploy/Dockerfile.runtime; deploy/Dockerfile builds the same in a Go toolchain image
IMAGE ?= berth:dev
image: build
	rm -rf bin/image && mkdir -p bin/image/data
	cp bin/berth /etc/ssl/certs/ca-certificates.crt bin/image/
	docker build -f deploy/Dockerfile.runtime -t $(IMAGE) bin/image

## deploy-check: helm lint + template of deploy/helm/berth, docker-compose config of
## deploy/docker-compose.yml, and the runtime image built and run (also part of `make unit`)
deploy-check:
	$(GO) test -count=1 -v ./test/deploy

## test: everything — lint, unit and integration tests (race detector on),
## crash-safety tests against the real binary, the OCI conformance suite,
## and a short run of every fuzz target
test: lint unit conformance fuzz

unit:
	$(GO) test -race -count=1 -timeout 20m ./...

lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; \
	elif [ -x "$(TOOLS)/bin/staticcheck" ]; then "$(TOOLS)/bin/staticcheck" ./...; \
	elif [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then "$$($(GO) env GOPATH)/bin/staticcheck" ./...; \
	elif [ -n "$$BERTH_E2E_REQUIRE" ]; then echo "staticcheck missing (run scripts/install-test-tools.sh)"; exit 1; \
	else echo "staticcheck not installed: skipped (scripts/install-test-tools.sh installs it)"; fi

## conformance: the official OCI distribution-spec conformance suite, open and with access control
## (credentials, token flow); 0 failures and 0 skipped required
conformance:
	CONFORMANCE_AUTH=off scripts/conformance.sh
	CONFORMANCE_AUTH=on scripts/conformance.sh

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## bench: berth vs the reference registry, same workloads, 3 interleaved reps (about 25 minutes)
bench: build
	go run ./bench -berth bin/berth -registry "$$(scripts/install-bench-tools.sh | tail -1)" -reps $${REPS:-3} -out bench/results

## bench-smoke: the same harness with tiny sizes, to keep it from rotting (CI)
bench-smoke: build
	go run ./bench -quick -reps 1 -berth bin/berth -registry "$$(scripts/install-bench-tools.sh | tail -1)" -out results/bench-smoke

## clients-report: run the real-client tests (test/e2e) and write docs/clients.md from their results
clients-report:
	BERTH_CLIENTS_REPORT=$(CURDIR)/docs/clients.md $(GO) test -count=1 -timeout 20m ./test/e2e

clean:
	rm -rf bin results
