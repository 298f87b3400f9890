# threatstop: `make run` serves Corefile.example on 127.0.0.1:1053; `make test` runs every test.
GO      ?= go
BIN     := bin/threatstop
FUZZTIME ?= 10s

.PHONY: all build run test check unit e2e fuzz bench bench-quick clean

all: build

# Every command under cmd/ (threatstop, threatstop-sync, threatstopctl) into bin/; go build's own cache
# makes this cheap when nothing changed.
build:
	@mkdir -p bin
	$(GO) build -o bin/ ./cmd/...

run: build bin/tls/cert.pem
	./$(BIN) -conf Corefile.example

# The test certificate of Corefile.example's DNS over TLS (127.0.0.1 and localhost, self-signed, ten
# years): for `make run` and the tests only, never a real server's.
bin/tls/cert.pem:
	@mkdir -p bin/tls
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 3650 \
	    -subj /CN=threatstop-test -addext subjectAltName=IP:127.0.0.1,DNS:localhost \
	    -keyout bin/tls/key.pem -out bin/tls/cert.pem 2>/dev/null

# Every test: format and vet, unit tests, and the end-to-end tests against the binary built above.
test: build check bin/tls/cert.pem
	THREATSTOP_BIN=$(CURDIR)/$(BIN) THREATSTOP_SYNC_BIN=$(CURDIR)/bin/threatstop-sync $(GO) test -count=1 ./...

check:
	@unformatted=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	if [ -n "$$unformatted" ]; then echo "gofmt needed:"; echo "$$unformatted"; exit 1; fi
	$(GO) vet ./...
	@command -v promtool >/dev/null || { echo "promtool not found: install the prometheus package (apt-get install prometheus) to check deploy/prometheus"; exit 1; }
	promtool check rules deploy/prometheus/threatstop.rules.yml
	cd deploy/prometheus && promtool test rules threatstop.rules_test.yml

unit:
	$(GO) test -count=1 $$($(GO) list ./... | grep -v /test$$)

e2e: build
	THREATSTOP_BIN=$(CURDIR)/$(BIN) THREATSTOP_SYNC_BIN=$(CURDIR)/bin/threatstop-sync $(GO) test -count=1 -v ./test/

# Runs each fuzz target (every Fuzz function of every package, listed by go test -list) for FUZZTIME:
# short by default, so that the whole run stays within minutes; FUZZTIME=10m for a long one. go test
# accepts one -fuzz target per run.
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

# Lookup-path benchmarks with allocations.
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem ./plugin/...

# DNSBL benchmark: rbldnsd, threatstop and the stock-CoreDNS ceiling on the same generated data (not part of
# `make test`). bench writes BENCHMARKS.md (about 15 minutes); bench-quick, a smaller set and short runs,
# writes bench/out/BENCHMARKS-quick.md in under 2 minutes. Needs dnsperf and rbldnsd (installed when missing).
bench:
	bench/run.sh full

bench-quick:
	bench/run.sh quick

clean:
	rm -rf bin
