# Unit tests, fuzzers, test vectors and the benchmark for the message
# security code (src/ngx_http_securechat_{crypto,envelope}.c).  Meant to be
# included by the top Makefile next to mk/unit.mk; also usable alone from
# the project root:
#
#     make -f mk/crypto.mk crypto-unit crypto-fuzz-smoke crypto-vectors-check
#
# Targets:
#   crypto-unit            build and run t/unit/test_{crypto,envelope}
#   crypto-unit-valgrind   the same under valgrind (definite leaks are errors)
#   crypto-fuzz-smoke      each crypto fuzzer for CRYPTO_FUZZ_SMOKE_SECONDS
#   crypto-fuzz            each crypto fuzzer for CRYPTO_FUZZ_SECONDS
#   crypto-vectors-check   regenerate the test vectors, diff them against
#                          docs/vectors.json, then check vectors and live
#                          envelopes with CryptX (t/envelope/verify.pl)
#   crypto-vectors         rewrite docs/vectors.json (after a protocol change)
#   crypto-bench           microseconds per message and per recipient
#   crypto-clean           remove what these targets built
#
# Every variable is prefixed CRYPTO_ so that it cannot collide with the
# including Makefile's or mk/unit.mk's own; the compiler flags come from
# mk/flags.mk.

BUILD ?= build

# Debian packages these targets need beyond a C toolchain (CryptX is the
# independent implementation the envelope is checked against)
CRYPTO_APT_PACKAGES = gcc make libc6-dev libssl-dev libjansson-dev \
                      libcmocka-dev clang libclang-rt-14-dev valgrind \
                      perl libcryptx-perl

include mk/flags.mk

CRYPTO_CC       ?= $(SC_CC)
CRYPTO_CFLAGS   ?= $(SC_CFLAGS)
CRYPTO_BENCH_CFLAGS ?= -std=gnu99 -g -O2 $(SC_WARNINGS)
CRYPTO_CPPFLAGS  = -Isrc
CRYPTO_LIBS      = -ljansson -lcrypto

CRYPTO_FUZZ_CC     ?= $(SC_FUZZ_CC)
CRYPTO_FUZZ_CFLAGS ?= $(SC_FUZZ_CFLAGS)
CRYPTO_FUZZ_SMOKE_SECONDS ?= 10
CRYPTO_FUZZ_SECONDS       ?= 300
CRYPTO_FUZZ_RUN_FLAGS     ?= $(SC_FUZZ_RUN) -max_len=16384

# the suppression covers one known OpenSSL 3.0 false positive in AES-GCM
CRYPTO_VALGRIND ?= $(SC_VALGRIND) \
                   --suppressions=t/envelope/openssl-gcm.supp

CRYPTO_SRC      = src/ngx_http_securechat_crypto.c \
                  src/ngx_http_securechat_envelope.c \
                  src/ngx_http_securechat_room.c \
                  src/ngx_http_securechat_token.c
CRYPTO_HDR      = src/ngx_http_securechat_crypto.h \
                  src/ngx_http_securechat_envelope.h \
                  src/ngx_http_securechat_room.h \
                  src/ngx_http_securechat_token.h

CRYPTO_TESTS    = $(BUILD)/unit/test_crypto $(BUILD)/unit/test_envelope
CRYPTO_FUZZ_NAMES = fuzz_client_key fuzz_client_frame
CRYPTO_FUZZ_BINS  = $(addprefix $(BUILD)/fuzz/,$(CRYPTO_FUZZ_NAMES))
CRYPTO_VECTORS    = $(BUILD)/bin/securechat-vectors
CRYPTO_BENCH      = $(BUILD)/bin/securechat-bench-crypto
CRYPTO_KEYS       = t/envelope/keys


# $(call CRYPTO_FUZZ_RUN,seconds): as mk/unit.mk's UNIT_FUZZ_RUN, for the
# crypto fuzzers: a working corpus in $(BUILD) seeded read-only from
# fuzz/corpus/<name>/, chatter in a log, the log's tail on a crash.
define CRYPTO_FUZZ_RUN
rc=0; \
for n in $(CRYPTO_FUZZ_NAMES); do \
    mkdir -p $(BUILD)/fuzz/corpus/$$n $(BUILD)/fuzz/artifacts; \
    log=$(BUILD)/fuzz/$$n.log; \
    echo "== $$n for $(1)s (log: $$log)"; \
    if $(BUILD)/fuzz/$$n -max_total_time=$(1) $(CRYPTO_FUZZ_RUN_FLAGS) \
           -artifact_prefix=$(BUILD)/fuzz/artifacts/$$n- \
           $(BUILD)/fuzz/corpus/$$n fuzz/corpus/$$n >$$log 2>&1; \
    then \
        grep -E '^(Done|stat::number_of_executed_units)' $$log; \
    else \
        echo "$$n FAILED:"; tail -n 60 $$log; rc=1; \
    fi; \
done; \
exit $$rc
endef


.PHONY: crypto-unit crypto-unit-valgrind crypto-fuzz-smoke crypto-fuzz \
        crypto-fuzz-build crypto-vectors-check crypto-vectors crypto-bench \
        crypto-clean


crypto-unit: $(CRYPTO_TESTS)
	@rc=0; \
	for t in $(CRYPTO_TESTS); do \
	    echo "== $$t"; \
	    $$t || rc=1; \
	done; \
	exit $$rc

crypto-unit-valgrind: $(CRYPTO_TESTS)
	@rc=0; \
	for t in $(CRYPTO_TESTS); do \
	    echo "== valgrind $$t"; \
	    $(CRYPTO_VALGRIND) $$t || rc=1; \
	done; \
	exit $$rc

crypto-fuzz-build: $(CRYPTO_FUZZ_BINS)

crypto-fuzz-smoke: $(CRYPTO_FUZZ_BINS)
	@$(call CRYPTO_FUZZ_RUN,$(CRYPTO_FUZZ_SMOKE_SECONDS))

crypto-fuzz: $(CRYPTO_FUZZ_BINS)
	@$(call CRYPTO_FUZZ_RUN,$(CRYPTO_FUZZ_SECONDS))

# the committed vectors must be exactly what the code makes today, and an
# implementation that is not ours must agree with them and with live output
crypto-vectors-check: $(CRYPTO_VECTORS)
	@mkdir -p $(BUILD)/crypto
	$(CRYPTO_VECTORS) vectors $(CRYPTO_KEYS) > $(BUILD)/crypto/vectors.json
	diff -u docs/vectors.json $(BUILD)/crypto/vectors.json
	SECURECHAT_VECTORS=$(CURDIR)/$(CRYPTO_VECTORS) \
	SECURECHAT_VECTORS_JSON=$(CURDIR)/docs/vectors.json \
	    prove t/envelope/verify.pl

crypto-vectors: $(CRYPTO_VECTORS)
	$(CRYPTO_VECTORS) vectors $(CRYPTO_KEYS) > docs/vectors.json

crypto-bench: $(CRYPTO_BENCH)
	$(CRYPTO_BENCH)

crypto-clean:
	rm -rf $(CRYPTO_TESTS) $(CRYPTO_FUZZ_BINS) $(CRYPTO_VECTORS) \
	    $(CRYPTO_BENCH) $(BUILD)/crypto \
	    $(addprefix $(BUILD)/fuzz/corpus/,$(CRYPTO_FUZZ_NAMES))


# explicit rules: they win over mk/unit.mk's $(BUILD)/fuzz/% pattern

$(BUILD)/unit/test_crypto: t/unit/test_crypto.c $(CRYPTO_SRC) $(CRYPTO_HDR)
	@mkdir -p $(@D)
	$(CRYPTO_CC) $(CRYPTO_CFLAGS) $(CRYPTO_CPPFLAGS) -o $@ \
	    t/unit/test_crypto.c $(CRYPTO_SRC) -lcmocka $(CRYPTO_LIBS)

# the envelope code with its CSPRNG hook, to test RAND_bytes() failing
$(BUILD)/unit/test_envelope: t/unit/test_envelope.c $(CRYPTO_SRC) \
                             $(CRYPTO_HDR)
	@mkdir -p $(@D)
	$(CRYPTO_CC) $(CRYPTO_CFLAGS) $(CRYPTO_CPPFLAGS) \
	    -DNGX_HTTP_SECURECHAT_TEST_HOOKS -o $@ \
	    t/unit/test_envelope.c $(CRYPTO_SRC) -lcmocka $(CRYPTO_LIBS)

$(BUILD)/fuzz/fuzz_client_key: fuzz/fuzz_client_key.c $(CRYPTO_SRC) \
                               $(CRYPTO_HDR)
	@mkdir -p $(@D)
	$(CRYPTO_FUZZ_CC) $(CRYPTO_FUZZ_CFLAGS) $(CRYPTO_CPPFLAGS) -o $@ $< \
	    $(CRYPTO_SRC) $(CRYPTO_LIBS) \
	|| { echo "if the libFuzzer runtime is missing:" \
	          "apt-get install libclang-rt-14-dev" >&2; exit 1; }

$(BUILD)/fuzz/fuzz_client_frame: fuzz/fuzz_client_frame.c $(CRYPTO_SRC) \
                                 $(CRYPTO_HDR)
	@mkdir -p $(@D)
	$(CRYPTO_FUZZ_CC) $(CRYPTO_FUZZ_CFLAGS) $(CRYPTO_CPPFLAGS) -o $@ $< \
	    $(CRYPTO_SRC) $(CRYPTO_LIBS) \
	|| { echo "if the libFuzzer runtime is missing:" \
	          "apt-get install libclang-rt-14-dev" >&2; exit 1; }

$(CRYPTO_VECTORS): tools/securechat-vectors.c $(CRYPTO_SRC) $(CRYPTO_HDR)
	@mkdir -p $(@D)
	$(CRYPTO_CC) $(CRYPTO_CFLAGS) $(CRYPTO_CPPFLAGS) -o $@ \
	    tools/securechat-vectors.c $(CRYPTO_SRC) $(CRYPTO_LIBS)

$(CRYPTO_BENCH): tools/securechat-bench-crypto.c $(CRYPTO_SRC) $(CRYPTO_HDR)
	@mkdir -p $(@D)
	$(CRYPTO_CC) $(CRYPTO_BENCH_CFLAGS) $(CRYPTO_CPPFLAGS) -o $@ \
	    tools/securechat-bench-crypto.c $(CRYPTO_SRC) $(CRYPTO_LIBS)
