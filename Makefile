# attestd developer tasks. `make help` lists them.
GO ?= go
export GOTOOLCHAIN := local

.PHONY: help build test test-race generate check-generated tools fuzz lint clean

help:
	@echo "make build            build ./bin/attestd, ./bin/attest and ./bin/attestd-load"
	@echo "make test             run the whole test suite (needs PostgreSQL; see README)"
	@echo "make generate         regenerate api/ from proto/ with the pinned tools in ./bin"
	@echo "make check-generated  fail if regenerating would change api/"
	@echo "make tools            install the pinned code generators into ./bin"
	@echo "make fuzz             run every fuzz target for FUZZTIME (default 20s)"

build:
	$(GO) build -o bin/attestd ./cmd/attestd
	$(GO) build -o bin/attest ./cmd/attest
	$(GO) build -o bin/attestd-load ./cmd/attestd-load

# The one test command: README and .ci/run both call it.
test:
	GO=$(GO) bash scripts/test.sh

test-race:
	$(GO) test -count=1 -race ./...

tools:
	bash scripts/install-tools.sh

generate: tools
	rm -rf api/attestd api/attestd.swagger.json
	PATH="$(CURDIR)/bin:$$PATH" bin/buf generate

check-generated: generate
	@git diff --exit-code -- api/ || (echo "api/ is stale: run make generate and commit" >&2; exit 1)
	@test -z "$$(git status --porcelain -- api/)" || (echo "api/ has untracked generated files" >&2; exit 1)

FUZZTIME ?= 20s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg 2>/dev/null | grep '^Fuzz'); do \
	    echo "fuzz $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

clean:
	rm -rf bin/attestd bin/attest bin/attestd-load
