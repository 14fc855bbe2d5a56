# ngx_http_nitro_attest_module: the verification core (src/), its CLI
# (build/nitro-attest) and the nginx dynamic module (build/*.so).
#
#   make          build the CLI and the module
#   make test     install what is missing, build, run every test
#   make bench    verification cost against raw ECDSA P-384 verifies
#   make demo     a served and a refused client against a real nginx

PYTHON    ?= /usr/bin/python3
CC        ?= cc
CFLAGS    ?= -O2 -g
WARN      := -Wall -Wextra -Wpointer-arith -Wshadow -Wstrict-prototypes \
             -Wmissing-prototypes -Werror=implicit-function-declaration
CPPFLAGS  += -Isrc -D_GNU_SOURCE
LDLIBS    := -lcbor -ljansson -lssl -lcrypto

CORE_SRCS := $(wildcard src/*.c)
CORE_HDRS := $(wildcard src/*.h)
CLI_SRCS  := $(wildcard src/cli/*.c)
CLI_HDRS  := $(wildcard src/cli/*.h)

B := build
CORE_OBJS := $(patsubst src/%.c,$(B)/obj/%.o,$(CORE_SRCS))
CLI_OBJS  := $(patsubst src/cli/%.c,$(B)/obj/cli/%.o,$(CLI_SRCS))

MODULE := $(B)/ngx_http_nitro_attest_module.so

.PHONY: all cli module deps test test-unit test-cli test-nginx bench demo \
        clean

all: cli module

cli: $(B)/nitro-attest

deps:
	@scripts/install-deps.sh

$(B)/obj/%.o: src/%.c $(CORE_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -fPIC -c -o $@ $<

$(B)/obj/cli/%.o: src/cli/%.c $(CORE_HDRS) $(CLI_HDRS)
	@mkdir -p $(dir $@)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -c -o $@ $<

$(B)/libnitro_attest.a: $(CORE_OBJS)
	@rm -f $@
	ar rcs $@ $^

$(B)/nitro-attest: $(CLI_OBJS) $(B)/libnitro_attest.a
	$(CC) $(CFLAGS) -o $@ $^ $(LDLIBS)

module: $(MODULE)

$(MODULE): config ngx_http_nitro_attest_module.c $(CORE_SRCS) $(CORE_HDRS)
	scripts/build-module.sh

$(B)/test_core: t/unit/test_core.c $(B)/libnitro_attest.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $^ $(LDLIBS)

$(B)/bench_core: bench/bench_core.c $(B)/libnitro_attest.a
	$(CC) $(CPPFLAGS) $(CFLAGS) $(WARN) -o $@ $^ $(LDLIBS)

test: deps
	$(MAKE) all $(B)/test_core
	$(MAKE) test-unit test-cli test-nginx

test-unit: $(B)/test_core
	$(B)/test_core t/fixtures

test-cli: cli
	$(PYTHON) -m pytest -q -p no:cacheprovider t/test_cli.py

test-nginx: all
	@if ls t/test_nginx*.py >/dev/null 2>&1; then \
	    $(PYTHON) -m pytest -q -p no:cacheprovider t/test_nginx*.py; fi

demo: deps all
	scripts/demo.sh

bench: deps $(B)/bench_core
	$(B)/bench_core

clean:
	rm -rf $(B)
