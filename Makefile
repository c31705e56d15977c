# berth — the two commands that matter: `make run` and `make test`.
GO       ?= go
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X github.com/berth-registry/berth/internal/app.Version=$(VERSION)
TOOLS    ?= $(HOME)/.cache/berth-tools
FUZZTIME ?= 10s

.PHONY: run build image deploy-check test unit unit-fast lint conformance fuzz bench bench-features bench-ui bench-smoke clients-report api-coverage trivy-compare clean

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

## test: everything, nothing skipped (scripts/test.sh) — installs the test tools first
## (scripts/install-test-tools.sh, cached), then lint, unit and integration tests (race
## detector on), crash-safety tests against the real binary, the OCI conformance suite and
## a short run of every fuzz target; every step runs even if one fails, and the last line
## sums up tests passed/failed/skipped (skipped and failed tests are named above it)
test:
	@TEST_TITLE="make test" FUZZTIME=$(FUZZTIME) scripts/test.sh

## unit: only the Go tests (go test -race ./...), tools installed, nothing skipped, summary line
unit:
	@TEST_TITLE="make unit" scripts/test.sh unit

## unit-fast: the quick check while developing — go test -short ./... without the race
## detector and without installing anything: tests whose tools are missing skip, and the
## summary names them (BERTH_E2E_REQUIRE=0 make unit does the same with -race, no -short)
unit-fast:
	@TEST_TITLE="make unit-fast" BERTH_E2E_REQUIRE=0 GOTESTFLAGS="-short -count=1 -timeout 10m" scripts/test.sh unit

lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt needed:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	@if command -v staticcheck >/dev/null; then staticcheck ./...; \
	elif [ -x "$(TOOLS)/bin/staticcheck" ]; then "$(TOOLS)/bin/staticcheck" ./...; \
	elif [ -x "$$($(GO) env GOPATH)/bin/staticcheck" ]; then "$$($(GO) env GOPATH)/bin/staticcheck" ./...; \
	elif [ "$$BERTH_E2E_REQUIRE" = 1 ]; then echo "staticcheck missing (run scripts/install-test-tools.sh go)"; exit 1; \
	else echo "staticcheck not installed: skipped (scripts/install-test-tools.sh installs it)"; fi

## conformance: the official OCI distribution-spec conformance suite, open and with access control
## (credentials, token flow); 0 failures and 0 skipped required
conformance:
	CONFORMANCE_AUTH=off scripts/conformance.sh
	CONFORMANCE_AUTH=on scripts/conformance.sh

## fuzz: run every fuzz target for FUZZTIME each
fuzz:
	FUZZTIME=$(FUZZTIME) scripts/fuzz.sh

## bench: berth vs the reference registry, same workloads, 3 interleaved reps (about 25 minutes), then bench-features
bench: build
	go run ./bench -berth bin/berth -registry "$$(scripts/install-bench-tools.sh | tail -1)" -reps $${REPS:-3} -out bench/results
	$(MAKE) bench-features

## bench-features: berth's own figures where the reference registry has no peer (written to
## bench/results/features.txt): GC mark on 100,000 blobs / 20,000 manifests, retention over 10,000 artifacts,
## a push with quota accounting, manifest GET with pull counting, the UI's 10,000-artifact page, a proxy-cache hit vs a direct pull,
## re-matching 10,000 stored package lists after a vulnerability database change, scanning one image,
## push latency with auto_scan on vs off (200 pushes each, real scans, alternating phases),
## replication's copy of 200 images (1 GiB) between two reference registries vs crane's, 4 at a time,
## 8 clients' pushes and pulls without GC and during the collection of 4,000 deleted images (SQLite/fs),
## S3 deletes of 10,000 objects one at a time vs DeleteObjects batches, and GC's collection of 10,000 blobs on
## PostgreSQL and S3 (rows and objects), unpaced, paced and with 4 workers
bench-features:
	@mkdir -p bench/results
	{ $(GO) test -run '^$$' -bench 'GCMark' -benchtime 3x ./internal/meta/sqlstore; \
	  $(GO) test -run '^$$' -bench 'Evaluate10000' -benchtime 5x ./internal/retention; \
	  $(GO) test -run '^$$' -bench '^BenchmarkPush$$' -benchmem -benchtime 2000x ./internal/registry; \
	  $(GO) test -run '^$$' -bench 'ManifestGetByTag' -benchmem ./internal/registry; \
	  $(GO) test -run '^$$' -bench RepositoryPage10k -benchtime 20x ./internal/ui; \
	  $(GO) test -run '^$$' -bench HitRatio -benchtime 200x ./internal/proxy; \
	  $(GO) test -run '^$$' -bench 'Rematch10000|ScanImage' -benchtime 1x ./internal/scan; \
	  BERTH_BENCH_AUTOSCAN_ROUNDS=10 $(GO) test -count=1 -run 'TestAutoScanKeepsPushesFast' -v ./internal/app | grep -E 'push p50|^(ok|FAIL|---)'; \
	  BERTH_BENCH_REPL_IMAGES=200 $(GO) test -run '^$$' -bench CopyVsCrane -benchtime 1x -timeout 30m ./internal/replication; \
	  BERTH_GC_THROUGHPUT=1 $(GO) test -count=1 -run TestThroughputSQLiteFS -v -timeout 20m ./test/gcstress | grep -E 'GC|^(ok|FAIL|---)'; \
	  BERTH_S3_DELETE_RATE=10000 $(GO) test -count=1 -run TestDeleteRate -v -timeout 20m ./internal/blob/s3 | grep -E 'objects/s|^(ok|FAIL|---)'; \
	  BERTH_GC_S3_RATE=10000 $(GO) test -count=1 -run TestS3CollectionRate -v -timeout 20m ./test/gcstress | grep -E 'blobs/s|^(ok|FAIL|---)'; } 2>&1 | tee bench/results/features.txt

## bench-ui: the web UI's first page of a 10,000-artifact repository, server-side
bench-ui:
	go test -run '^$$' -bench RepositoryPage10k -benchtime 20x ./internal/ui

## bench-smoke: the same harness with tiny sizes, to keep it from rotting (CI)
bench-smoke: build
	go run ./bench -quick -reps 1 -berth bin/berth -registry "$$(scripts/install-bench-tools.sh | tail -1)" -out results/bench-smoke

## clients-report: run the real-client tests (test/e2e) and write docs/clients.md from their results
clients-report:
	BERTH_CLIENTS_REPORT=$(CURDIR)/docs/clients.md $(GO) test -count=1 -timeout 20m ./test/e2e

## trivy-compare: opt-in (berth issue 13) — berth's cataloguer and matcher against the real Trivy
## on the same fixture images and the same tiny Trivy DB (test/trivycompare): package lists and
## findings must be equal but for the differences the test lists with their reasons. Builds trivy
## $(TRIVY_VERSION) into $(TOOLS)/bin first if it is missing (scripts/build-trivy.sh, 10-15 minutes);
## BERTH_TRIVY=/path/to/trivy uses that binary instead
TRIVY_VERSION ?= v0.74.0
trivy-compare:
	@if [ -z "$$BERTH_TRIVY" ]; then BERTH_TOOLS_DIR=$(TOOLS) scripts/build-trivy.sh $(TRIVY_VERSION) >/dev/null; fi
	BERTH_TRIVY="$${BERTH_TRIVY:-$(TOOLS)/bin/trivy}" $(GO) test -count=1 -v -timeout 30m ./test/trivycompare

## api-coverage: write docs/harbor-api.md, which of Harbor's API operations berth serves
## (internal/api/apicoverage; TestHarborAPICoverage fails while the file is stale)
api-coverage:
	$(GO) run ./scripts/apicoverage

clean:
	rm -rf bin results
