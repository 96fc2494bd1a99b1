# resimatectl: build, test and release.
SHELL := bash
GO ?= go
PKG := github.com/resimate/resimatectl
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
COMMIT ?= $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
DATE ?= $(shell date -u +%Y-%m-%dT%H:%M:%SZ)
LDFLAGS := -s -w -X $(PKG)/internal/buildinfo.Version=$(VERSION) \
	-X $(PKG)/internal/buildinfo.Commit=$(COMMIT) -X $(PKG)/internal/buildinfo.Date=$(DATE)

# Pinned developer tools, installed with `go install` into a cache outside the clone.
TOOLS_DIR ?= $(HOME)/.cache/resimatectl-tools
STATICCHECK_MODULE_VERSION := v0.8.2
GORELEASER_VERSION := v2.15.1
STATICCHECK := $(TOOLS_DIR)/staticcheck-$(STATICCHECK_MODULE_VERSION)
GORELEASER := $(TOOLS_DIR)/goreleaser-$(GORELEASER_VERSION)

TESTENV := hack/testenv
# Integration tests share one set of servers; packages may run side by side.
GOTEST_FLAGS ?= -count=1 -timeout 30m

.PHONY: all build test test-unit lint bench docs testenv-up testenv-down release-snapshot demo clean

all: build

build:
	$(GO) build -trimpath -ldflags '$(LDFLAGS)' -o bin/resimatectl ./cmd/resimatectl

## test: start the test environment (builds what is missing) and run every test against it.
test: testenv-up
	source "$${RESIMATE_TESTENV_STATE:-$${TMPDIR:-/tmp}/resimatectl-testenv}/env" && $(GO) test $(GOTEST_FLAGS) ./...

## test-unit: only the tests that need no server (integration tests skip under -short).
test-unit:
	$(GO) test -short $(GOTEST_FLAGS) ./...

lint: $(STATICCHECK)
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$unformatted" ]; then echo "gofmt needed: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	$(STATICCHECK) ./...

bench: testenv-up
	bash $(TESTENV)/build.sh helm
	source "$${RESIMATE_TESTENV_STATE:-$${TMPDIR:-/tmp}/resimatectl-testenv}/env" && $(GO) test -run '^$$' -bench . -benchtime 1x -timeout 30m ./...
	$(MAKE) build && bash hack/bench-firestore-rss.sh

docs:
	$(GO) run ./cmd/resimatectl docs --dir docs/cli

testenv-up:
	bash $(TESTENV)/up.sh

testenv-down:
	bash $(TESTENV)/down.sh

release-snapshot: $(GORELEASER)
	$(GORELEASER) release --snapshot --clean $(if $(shell command -v docker),,--skip=docker)

## demo: the local default run: the test environment, then preflight, install --profile=local
## and status on its real-pod cluster (Vault initialised and unsealed, every component Ready), a
## user who signs in and reads through the frontend, and a connection the policies refuse.
demo: testenv-up build
	bash hack/demo.sh

$(STATICCHECK):
	mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR)/tmp $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_MODULE_VERSION)
	mv $(TOOLS_DIR)/tmp/staticcheck $@

$(GORELEASER):
	mkdir -p $(TOOLS_DIR)
	GOBIN=$(TOOLS_DIR)/tmp $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)
	mv $(TOOLS_DIR)/tmp/goreleaser $@

clean:
	rm -rf bin dist
