# The benchmark against nchan (bench/).  Included by the top Makefile;
# also usable alone from the project root:
#
#     make -f mk/bench.mk bench BENCH_QUICK=1
#
# Targets:
#   bench-deps    install what the benchmark needs beyond `make deps`
#                 (Debian's nchan build for nginx 1.22)
#   bench-build   the module, securechat-passwd and bench/securechat-load
#   bench         both, then bench/run: table on stdout and in
#                 bench/results/latest.txt, JSON lines appended to
#                 bench/results/runs.jsonl
#
# Knobs (environment or make variables): BENCH_QUICK=1 (small, one
# repetition, about 1 min), BENCH_NS, BENCH_WORKERS, BENCH_WORKLOADS
# ("1 100 pairs"), BENCH_REPS, BENCH_ROOM_REPS, BENCH_DURATION,
# BENCH_KEY=rsa|ed25519, BENCH_PORT (2301; nchan +1), BENCH_STORM,
# BENCH_PUBS, BENCH_SIZE, BENCH_RATE_FRAC; see bench/README.md.
#
# Variables are prefixed BENCH_ so they cannot collide with the including
# Makefile's.

BUILD ?= build

BENCH_APT_PACKAGES = libnginx-mod-nchan nginx openssl gcc make libc6-dev \
                     libssl-dev libjansson-dev perl procps coreutils

include mk/flags.mk

BENCH_CC       ?= $(SC_CC)
BENCH_CFLAGS   ?= -std=gnu99 -g -O2 $(SC_WARNINGS)
BENCH_CPPFLAGS  = -Isrc
BENCH_LIBS      = -ljansson -lcrypto

BENCH_PURE_SRC  = src/ngx_http_securechat_crypto.c \
                  src/ngx_http_securechat_envelope.c \
                  src/ngx_http_securechat_room.c \
                  src/ngx_http_securechat_token.c
BENCH_PURE_HDR  = src/ngx_http_securechat_crypto.h \
                  src/ngx_http_securechat_envelope.h \
                  src/ngx_http_securechat_room.h \
                  src/ngx_http_securechat_token.h

BENCH_LOAD      = $(BUILD)/bin/securechat-load

export BENCH_QUICK BENCH_NS BENCH_WORKERS BENCH_WORKLOADS BENCH_REPS \
       BENCH_ROOM_REPS BENCH_DURATION BENCH_KEY BENCH_PORT BENCH_STORM \
       BENCH_PUBS BENCH_SIZE BENCH_RATE_FRAC


.PHONY: bench bench-build bench-deps


bench: bench-deps bench-build
	BUILD=$(BUILD) bench/run

# only what is missing, by Debian package name; sudo only when not root
bench-deps:
	@$(call SC_APT_INSTALL,$(BENCH_APT_PACKAGES))

# the module and the passwd tool come from the top Makefile's own rules
bench-build: $(BENCH_LOAD)
	$(MAKE) -f Makefile BUILD=$(BUILD) module tools

$(BENCH_LOAD): bench/securechat-load.c $(BENCH_PURE_SRC) $(BENCH_PURE_HDR)
	@mkdir -p $(@D)
	$(BENCH_CC) $(BENCH_CFLAGS) $(BENCH_CPPFLAGS) -o $@ \
	    bench/securechat-load.c $(BENCH_PURE_SRC) $(BENCH_LIBS)
