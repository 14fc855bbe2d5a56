# ngx_http_nitro_attest_module: the verification core (src/), its CLI
# (build/nitro-attest) and the nginx dynamic module (build/*.so).
#
#   make          build the CLI and the module
#   make test     install what is missing, build, run every test (and
#                 make test-debian13 when NITRO_TEST_DEBIAN13=1)
#   make test-debian13  the same suite inside a Debian 13 root
#   make bench    verification cost against raw ECDSA P-384 verifies
#   make demo     a served and a refused client against a real nginx
#   make deb      Debian packages of the modules and the CLI in build/deb/
#   make static   one fully static nitro-attest each for x86_64 and aarch64

PYTHON    ?= /usr/bin/python3
CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Wpointer-arith -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Werror=implicit-function-declaration
CPPFLAGS  += -Isrc -D_GNU_SOURCE
LDLIBS    := -lcbor -ljansson -lssl -lcrypto

# one version for the CLI (--version) and the packages: debian/changelog's,
# without an epoch or a Debian revision
DEB_VERSION := $(shell sed -n '1s/^[^(]*(\([^)]*\)).*/\1/p' debian/changelog)
VERSION     := $(shell echo '$(DEB_VERSION)' | sed 's/^[0-9]*://; s/-[^-]*$$//')
CLI_DEFS    := -DNITRO_ATTEST_VERSION='"$(VERSION)"'

CORE_SRCS := $(wildcard src/*.c)
CORE_HDRS := $(wildcard src/*.h)
CLI_SRCS  := $(wildcard src/cli/*.c)
CLI_HDRS  := $(wildcard src/cli/*.h)

B := build
CORE_OBJS := $(patsubst src/%.c,$(B)/obj/%.o,$(CORE_SRCS))
CLI_OBJS  := $(patsubst src/cli/%.c,$(B)/obj/cli/%.o,$(CLI_SRCS))

MODULE := $(B)/ngx_http_nitro_attest_module.so

.PHONY: all cli module deps deps-bench test test-unit test-cli test-nginx \
        bench demo bench-handshake \
        clean fuzz test-asan test-asan-fast test-load deb \
        test-packaging test-debian13 static test-static

all: cli module

cli: $(B)/nitro-attest

# the Debian packages each kind of target needs (scripts/install-deps.sh
# names the sets): deps is make test's, every tool of every suite
deps:
	@scripts/install-deps.sh test

deps-bench:
	@scripts/install-deps.sh bench

$(B)/obj/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -c -o $@ $<

$(B)/obj/cli/%.o: src/cli/%.c $(CORE_HDRS) $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CLI_DEFS) $(CFLAGS) $(WARN) -c -o $@ $<

$(B)/obj/cli/main.o $(B)/asan/obj/cli/main.o: debian/changelog

# never a fuzz build's objects (NITRO_ATTEST_FUZZING takes forged signatures)
define refuse-fuzz-build
	@if nm $(1) 2>/dev/null | grep -q nitro_attest_fuzzing_build; then \
	    echo "$(1): built with NITRO_ATTEST_FUZZING: refused" >&2; \
	    rm -f $(1); exit 1; fi
endef

$(B)/libnitro_attest.a: $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^
	$(call refuse-fuzz-build,$@)

$(B)/nitro-attest: $(CLI_OBJS) $(B)/libnitro_attest.a
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $^ $(LDLIBS)

module: $(MODULE)

$(MODULE): config ngx_http_nitro_attest_module.c $(CORE_SRCS) $(CORE_HDRS) \
          $(wildcard nginx/*.c nginx/*.h)
	scripts/build-module.sh
	$(call refuse-fuzz-build,$@)

# the tests' NSM (t/nsm/nsm_emu.c): an LD_PRELOAD library answering the
# NSM's ioctl, signing with mock.c's documents; only its libc wrappers are
# exported, so the CLI it is loaded into keeps its own symbols
EMU_SRCS := t/nsm/nsm_emu.c src/cli/mock.c src/cli/common.c
EMU_OBJS := $(patsubst %.c,$(B)/obj/emu/%.o,$(notdir $(EMU_SRCS)))

$(B)/obj/emu/%.o: t/nsm/%.c $(CORE_HDRS) $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) -Isrc/cli $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden \
	    -c -o $@ $<

$(B)/obj/emu/%.o: src/cli/%.c $(CORE_HDRS) $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -fvisibility=hidden -c -o $@ $<

$(B)/nsm-emu.so: $(EMU_OBJS) $(B)/libnitro_attest.a
	$(CC) $(CFLAGS) -shared -o $@ $^ $(LDLIBS) -ldl

# the unit tests: one binary, t/unit/main.c running each t/unit/test_*.c
UNIT_SRCS := $(wildcard t/unit/*.c)
UNIT_HDRS := t/unit/unit.h t/unit/docs.h

$(B)/test_core: $(UNIT_SRCS) $(UNIT_HDRS) $(B)/libnitro_attest.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $(UNIT_SRCS) \
	    $(B)/libnitro_attest.a $(LDLIBS)

# the document loader of the unit tests, shared with the core benchmark
$(B)/bench_core: bench/bench_core.c t/unit/docs.c t/unit/docs.h bench/bench.h \
    $(B)/libnitro_attest.a
	$(CC) $(CPPFLAGS) -It/unit $(CFLAGS) $(WARN) -o $@ \
	    $(filter-out %.h,$^) $(LDLIBS)

test: deps
	$(MAKE) all $(B)/test_core
	$(MAKE) test-unit test-cli test-nginx test-packaging test-docs \
	    test-static test-asan-fast
	@if [ "$${NITRO_TEST_DEBIAN13:-}" = 1 ]; then \
	    $(MAKE) test-debian13; fi

# the whole suite (make test) inside a Debian 13 root made by debootstrap
# under build/debian13 (made once, then reused): nginx 1.26, OpenSSL 3.5
test-debian13:
	scripts/test-debian13.sh test

test-unit: $(B)/test_core
	$(B)/test_core t/fixtures

# the Python suites, one directory each (shared helpers in t/lib)
PYTEST := $(PYTHON) -m pytest -q -p no:cacheprovider

test-cli: cli $(B)/test_core $(B)/nsm-emu.so
	$(PYTEST) t/cli

# t/nginx but its load test (make test-load)
test-nginx: all $(B)/nsm-emu.so
	$(PYTEST) t/nginx

# the README and docs/: every relative link and anchor resolves, and every
# directive, variable and reason code of the sources is documented
.PHONY: test-docs
test-docs:
	$(PYTEST) t/docs

# the .debs of make deb unpacked into a scratch root (the agent's systemd
# unit among them); the Dockerfile's build stage run in a scratch copy of
# the tree and its runtime config checked; conf-examples/conf.d/ in
# Debian's layout; conf-examples/enclave/'s image laid out and run with the
# tests' NSM; the package sets of the targets and make demo's program
test-packaging: all $(B)/nsm-emu.so
	$(PYTEST) t/packaging

# installs the demo's packages only (scripts/install-deps.sh demo), builds
demo:
	scripts/demo.sh

# make deb: libnginx-mod-http-nitro-attest, libnginx-mod-stream-nitro-attest
# and nitro-attest .debs, built by dpkg-buildpackage from debian/ in a copy of
# the tree (scripts/build-deb.sh); the version comes from debian/changelog
# only.  Rebuilt when an input changes.
DEB_ARCH    := $(shell dpkg --print-architecture 2>/dev/null)
DEB         := $(B)/deb/libnginx-mod-http-nitro-attest_$(DEB_VERSION)_$(DEB_ARCH).deb
DEB_INPUTS  := $(shell find debian src nginx conf-examples docs t/unit -type f) \
               config Makefile README.md SECURITY.md \
               ngx_http_nitro_attest_module.c \
               scripts/build-deb.sh scripts/build-module.sh

deb: $(DEB)

$(DEB): $(DEB_INPUTS)
	@scripts/install-deps.sh deb
	scripts/build-deb.sh

# make static: build/static/nitro-attest-x86_64 and -aarch64, one fully
# static executable each (glibc, OpenSSL, jansson and libcbor linked in),
# for copying into any enclave image, with nothing to install beside it.
# Debian ships libssl.a, libcrypto.a and libjansson.a (the :arm64 ones
# through multiarch) but no libcbor.a: these builds compile the libcbor
# release kept in third_party/libcbor (its README says which), with the
# headers its CMake build would generate; the module and build/nitro-attest
# keep Debian's shared libcbor.  What each architecture's libcrypto.a
# needs beside it (Debian 13's: zlib and zstd) comes from its pkg-config
# files.  The static set of scripts/install-deps.sh has the cross
# compiler, the :arm64 libraries and qemu-user-static, which make
# test-static runs the aarch64 executable under.
S             := $(B)/static
STATIC_ARCHS  := x86_64 aarch64
STATIC_BINS   := $(addprefix $(S)/nitro-attest-,$(STATIC_ARCHS))
STATIC_CFLAGS ?= -O2
CBOR_DIR      := third_party/libcbor
CBOR_SRCS     := $(shell find $(CBOR_DIR)/src -name '*.c')
CBOR_HDRS     := $(shell find $(CBOR_DIR) -name '*.h')
STATIC_CPPFLAGS := $(CPPFLAGS) -I$(CBOR_DIR)/src -I$(CBOR_DIR)/generated

static:
	@scripts/install-deps.sh static
	$(MAKE) $(STATIC_BINS)

# $(1): the architecture, whose GNU cross compiler is $(1)-linux-gnu-gcc
define static-build
$(S)/$(1)/obj/%.o: src/%.c $(CORE_HDRS) $(CLI_HDRS) $(CBOR_HDRS)
	@mkdir -p $$(dir $$@)
	$(1)-linux-gnu-gcc $(STATIC_CPPFLAGS) $(CLI_DEFS) $(STATIC_CFLAGS) \
	    $(WARN) -c -o $$@ $$<

$(S)/$(1)/obj/cli/main.o: debian/changelog

$(S)/$(1)/libcbor/%.o: $(CBOR_DIR)/src/%.c $(CBOR_HDRS)
	@mkdir -p $$(dir $$@)
	$(1)-linux-gnu-gcc -std=c99 -DNDEBUG -I$(CBOR_DIR)/src \
	    -I$(CBOR_DIR)/generated $(STATIC_CFLAGS) -c -o $$@ $$<

$(S)/nitro-attest-$(1): \
    $(patsubst src/%.c,$(S)/$(1)/obj/%.o,$(CLI_SRCS) $(CORE_SRCS)) \
    $(patsubst $(CBOR_DIR)/src/%.c,$(S)/$(1)/libcbor/%.o,$(CBOR_SRCS))
	libs=$$$$(PKG_CONFIG_LIBDIR=/usr/lib/$(1)-linux-gnu/pkgconfig \
	    pkg-config --static --libs libssl libcrypto jansson) \
	    && $(1)-linux-gnu-gcc -static -o $$@ $$^ $$$$libs -lm
	$$(call refuse-fuzz-build,$$@)
	$(1)-linux-gnu-strip $$@
endef

$(foreach a,$(STATIC_ARCHS),$(eval $(call static-build,$(a))))

# both executables on the real documents, the x86_64 one in an empty root,
# the aarch64 one under qemu-user, against build/nitro-attest's output
test-static: cli $(STATIC_BINS)
	$(PYTEST) t/cli/test_static.py

bench: deps-bench $(B)/bench_core
	$(B)/bench_core

# attested handshakes per second with the event log and counters on vs off
.PHONY: bench-telemetry
$(B)/telemetry_client: bench/telemetry_client.c
	$(CC) $(CFLAGS) $(WARN) -o $@ $< -lssl -lcrypto

bench-telemetry: deps-bench all $(B)/telemetry_client
	$(PYTHON) bench/bench_telemetry.py

$(B)/handshake: bench/handshake.c bench/bench.h
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $< -lssl -lcrypto

bench-handshake: deps-bench all $(B)/handshake
	$(PYTHON) bench/bench_handshake.py

# the CLI over the real documents against P-384 verifies
.PHONY: bench-cli
bench-cli: deps-bench cli
	$(PYTHON) bench/bench_cli.py

# the steady state of a fleet renewing certificates every minute
.PHONY: bench-fleet
bench-fleet: deps-bench all $(B)/handshake
	$(PYTHON) bench/bench_fleet.py

# worker CPU per handshake with the inventory off, updated, and evicting
.PHONY: bench-inventory
bench-inventory: deps-bench all $(B)/handshake
	$(PYTHON) bench/bench_inventory.py

# worker CPU per new connection and per request of the signed token
# against the same configuration without a token key
.PHONY: bench-token
bench-token: deps-bench all $(B)/handshake
	$(PYTHON) bench/bench_token.py

# worker CPU per handshake for a repeated forgery and a replayed genuine
# certificate against a certificate without the extension, and for a new
# forged document each handshake against a new genuine one
.PHONY: bench-replay
bench-replay: deps-bench all $(B)/handshake
	$(PYTHON) bench/bench_replay.py

# worker CPU per handshake with the event log chained and signed, and with
# evidence, against the plain event log; audit verify's lines per second
.PHONY: bench-audit
bench-audit: deps-bench all $(B)/handshake
	$(PYTHON) bench/bench_audit.py

# worker CPU of an upstream TLS handshake verified (caches cold, a known
# enclave) against one not verified, and requests per second over a
# keepalive upstream connection with and without verification
.PHONY: bench-proxy
bench-proxy: deps-bench all
	$(PYTHON) bench/bench_proxy.py

# Hardening: libFuzzer targets (fuzz/), the tests under ASan and UBSan,
# the load and fault test.  FUZZ_SECONDS per fuzz target.  A *_fastcrypto
# target is its target over the core built with -DNITRO_ATTEST_FUZZING
# (src/na_chain.c: the input decides each signature, ECDSA is skipped),
# which only these rules ever set.
FUZZ_CC      ?= clang-14
FUZZ_SECONDS ?= 60
FUZZ_FAST    := document_fastcrypto verify_fastcrypto
FUZZ_TARGETS := extension document verify policy misc nsm $(FUZZ_FAST)
FUZZ_MODE    := -DNITRO_ATTEST_FUZZING
SAN_FLAGS    := -g -O1 -fno-omit-frame-pointer -fsanitize=address,undefined \
                -fno-sanitize-recover=undefined
F := $(B)/fuzz
FUZZ_OBJS      := $(patsubst src/%.c,$(F)/obj/%.o,$(CORE_SRCS))
FUZZ_FAST_OBJS := $(patsubst src/%.c,$(F)/obj-fastcrypto/%.o,$(CORE_SRCS))
.SECONDARY: $(FUZZ_OBJS) $(FUZZ_FAST_OBJS)

$(F)/obj/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer-no-link -c -o $@ $<

$(F)/obj-fastcrypto/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(FUZZ_CC) $(CPPFLAGS) $(FUZZ_MODE) $(SAN_FLAGS) \
	    -fsanitize=fuzzer-no-link -c -o $@ $<

$(F)/fuzz_%: fuzz/fuzz_%.c fuzz/fuzz_common.h $(FUZZ_OBJS)
	$(FUZZ_CC) $(CPPFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer $(WARN) \
	    -DFUZZ_MOCK_ROOT='"$(CURDIR)/fuzz/pki/root.pem"' -o $@ $< \
	    $(FUZZ_OBJS) $(LDLIBS)

$(F)/fuzz_%_fastcrypto: fuzz/fuzz_%.c fuzz/fuzz_common.h $(FUZZ_FAST_OBJS)
	$(FUZZ_CC) $(CPPFLAGS) $(SAN_FLAGS) -fsanitize=fuzzer $(WARN) \
	    -DFUZZ_MOCK_ROOT='"$(CURDIR)/fuzz/pki/root.pem"' -o $@ $< \
	    $(FUZZ_FAST_OBJS) $(LDLIBS)

$(F)/seed_verdicts: fuzz/seed_verdicts.c $(B)/libnitro_attest.a
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $^ $(LDLIBS)

# ASan + UBSan builds of the core, the CLI, the unit tests and the fuzz
# targets' replay drivers (gcc: its runtime is the one preloaded into nginx)
A := $(B)/asan
ASAN_OBJS      := $(patsubst src/%.c,$(A)/obj/%.o,$(CORE_SRCS))
ASAN_FAST_OBJS := $(patsubst src/%.c,$(A)/obj-fastcrypto/%.o,$(CORE_SRCS))
ASAN_CLI_OBJS  := $(patsubst src/cli/%.c,$(A)/obj/cli/%.o,$(CLI_SRCS))
ASAN_BINS      := $(A)/nitro-attest $(A)/test_core \
                  $(addprefix $(A)/replay_,$(FUZZ_TARGETS))
.SECONDARY: $(ASAN_FAST_OBJS)

$(A)/obj/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(SAN_FLAGS) $(WARN) -c -o $@ $<

$(A)/obj-fastcrypto/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(FUZZ_MODE) $(SAN_FLAGS) $(WARN) -c -o $@ $<

$(A)/obj/cli/%.o: src/cli/%.c $(CORE_HDRS) $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CLI_DEFS) $(SAN_FLAGS) $(WARN) -c -o $@ $<

$(A)/nitro-attest: $(ASAN_CLI_OBJS) $(ASAN_OBJS)
	$(CC) $(SAN_FLAGS) -o $@ $^ $(LDLIBS)

$(A)/test_core: $(UNIT_SRCS) $(UNIT_HDRS) $(ASAN_OBJS)
	$(CC) $(CPPFLAGS) $(SAN_FLAGS) $(WARN) -o $@ $(UNIT_SRCS) $(ASAN_OBJS) \
	    $(LDLIBS)

$(A)/replay_%: fuzz/fuzz_%.c fuzz/replay.c fuzz/fuzz_common.h $(ASAN_OBJS)
	$(CC) $(CPPFLAGS) $(SAN_FLAGS) $(WARN) \
	    -DFUZZ_MOCK_ROOT='"$(CURDIR)/fuzz/pki/root.pem"' \
	    -o $@ fuzz/fuzz_$*.c fuzz/replay.c $(ASAN_OBJS) $(LDLIBS)

$(A)/replay_%_fastcrypto: fuzz/fuzz_%.c fuzz/replay.c fuzz/fuzz_common.h \
    $(ASAN_FAST_OBJS)
	$(CC) $(CPPFLAGS) $(SAN_FLAGS) $(WARN) \
	    -DFUZZ_MOCK_ROOT='"$(CURDIR)/fuzz/pki/root.pem"' \
	    -o $@ fuzz/fuzz_$*.c fuzz/replay.c $(ASAN_FAST_OBJS) $(LDLIBS)

# make test runs the fast part (fuzz regressions, adversarial CLI tests under
# the sanitizers); make test-asan adds the unit tests, every CLI and nginx
# suite, the module built with ASan inside Debian's nginx
test-asan-fast: cli $(ASAN_BINS) $(B)/nsm-emu.so
	scripts/test-asan.sh fast

test-asan:
	@scripts/install-deps.sh test libasan8 libubsan1
	$(MAKE) cli module $(ASAN_BINS) $(B)/nsm-emu.so
	scripts/build-module-asan.sh
	scripts/test-asan.sh all

# loopback only; bounded: NITRO_LOAD_HANDSHAKES (default 10000) and 15 min
test-load: deps
	$(MAKE) all
	timeout 900 $(PYTEST) -s t/nginx/test_load.py

fuzz:
	@scripts/install-deps.sh fuzz
	$(MAKE) cli $(F)/seed_verdicts $(addprefix $(F)/fuzz_,$(FUZZ_TARGETS))
	$(PYTHON) fuzz/make-corpus.py $(F)
	fuzz/run.sh $(F) $(FUZZ_SECONDS) $(FUZZ_TARGETS)

clean:
	rm -rf $(B)
