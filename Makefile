# skiff build, test and benchmark entry points.
GO        ?= go
CLANG     ?= clang
CFLAGS    := -O2 -g -Wall -Werror
BIN       := bin/skiff
PKGS      := ./...
# make test runs every package; integration tests need root and the
# packages .ci/run installs.
TESTFLAGS ?= -count=1 -timeout 25m

.PHONY: all build deps test vet generate bench up clean fmt

all: build

build:
	$(GO) build -o $(BIN) ./cmd/skiff

# deps installs the Debian packages skiff and its tests use, when missing.
deps:
	./hack/deps.sh
	$(GO) mod download

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet $(PKGS)

test: deps vet
	$(GO) test $(TESTFLAGS) $(PKGS)

# generate rebuilds the committed generated code: BPF objects (bpf2go) and
# the OpenAPI definitions (openapi-gen).
generate: deps
	CLANG=$(CLANG) BPF_CFLAGS="$(CFLAGS)" $(GO) generate ./...

bench: deps
	$(GO) run ./bench/cmd/skiff-bench -out bench/results

# up brings up a one-node cluster on embedded etcd in the foreground.
up: deps build
	$(BIN) server

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin
