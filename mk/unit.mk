# Unit tests, fuzzers and the securechat-passwd tool for the pure units
# (src/ngx_http_securechat_{json,token,passwd,room}.c).  Included by the top
# Makefile; also usable alone from the project root:
#
#     make -f mk/unit.mk unit tools fuzz-smoke unit-valgrind
#
# Targets:
#   unit           build and run the cmocka tests in t/unit/
#   unit-valgrind  the same tests under valgrind (definite leaks are errors)
#   tools          $(BUILD)/bin/securechat-passwd
#   tools-test     exercise securechat-passwd end to end (t/unit/test_tool.sh)
#   fuzz-smoke     each libFuzzer target for FUZZ_SMOKE_SECONDS
#   fuzz           each libFuzzer target for FUZZ_SECONDS
#   unit-clean     remove what these targets built
#
# Every variable is prefixed so that it cannot collide with the including
# Makefile's own.

BUILD ?= build

# Debian packages these targets need (the libFuzzer, ASan and UBSan runtimes
# for clang 14 come with libclang-rt-14-dev).
UNIT_APT_PACKAGES = gcc make libc6-dev libssl-dev libjansson-dev \
                    libcmocka-dev clang libclang-rt-14-dev valgrind

include mk/flags.mk

UNIT_CC       ?= $(SC_CC)
UNIT_CFLAGS   ?= $(SC_CFLAGS)
UNIT_CPPFLAGS  = -Isrc
UNIT_LIBS      = -ljansson -lcrypto

FUZZ_CC       ?= $(SC_FUZZ_CC)
FUZZ_CFLAGS   ?= $(SC_FUZZ_CFLAGS)
FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SECONDS  ?= 300
FUZZ_RUN_FLAGS ?= $(SC_FUZZ_RUN) -max_len=16384

UNIT_VALGRIND ?= $(SC_VALGRIND)

UNIT_SRC_DIR   = src
UNIT_JSON      = $(UNIT_SRC_DIR)/ngx_http_securechat_json
UNIT_TOKEN     = $(UNIT_SRC_DIR)/ngx_http_securechat_token
UNIT_PASSWD    = $(UNIT_SRC_DIR)/ngx_http_securechat_passwd
UNIT_ROOM      = $(UNIT_SRC_DIR)/ngx_http_securechat_room
UNIT_ALL_SRC   = $(UNIT_JSON).c $(UNIT_TOKEN).c $(UNIT_PASSWD).c \
                 $(UNIT_ROOM).c
UNIT_ALL_HDR   = $(UNIT_JSON).h $(UNIT_TOKEN).h $(UNIT_PASSWD).h \
                 $(UNIT_ROOM).h

UNIT_TESTS     = $(BUILD)/unit/test_json $(BUILD)/unit/test_token \
                 $(BUILD)/unit/test_passwd $(BUILD)/unit/test_room
UNIT_TOOL      = $(BUILD)/bin/securechat-passwd
FUZZ_NAMES     = fuzz_json fuzz_cookie fuzz_passwd fuzz_room
FUZZ_BINS      = $(addprefix $(BUILD)/fuzz/,$(FUZZ_NAMES))


# $(call UNIT_FUZZ_RUN,seconds): runs each fuzzer on a working corpus in
# $(BUILD), seeded read-only from fuzz/corpus/<name>/, its chatter kept in
# a log; a crash shows the log's tail and fails the target.
define UNIT_FUZZ_RUN
rc=0; \
for n in $(FUZZ_NAMES); do \
    mkdir -p $(BUILD)/fuzz/corpus/$$n $(BUILD)/fuzz/artifacts; \
    log=$(BUILD)/fuzz/$$n.log; \
    echo "== $$n for $(1)s (log: $$log)"; \
    if $(BUILD)/fuzz/$$n -max_total_time=$(1) $(FUZZ_RUN_FLAGS) \
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


.PHONY: unit unit-valgrind tools tools-test fuzz-smoke fuzz fuzz-build \
        unit-clean


unit: $(UNIT_TESTS)
	@rc=0; \
	for t in $(UNIT_TESTS); do \
	    echo "== $$t"; \
	    $$t || rc=1; \
	done; \
	exit $$rc

unit-valgrind: $(UNIT_TESTS)
	@rc=0; \
	for t in $(UNIT_TESTS); do \
	    echo "== valgrind $$t"; \
	    $(UNIT_VALGRIND) $$t || rc=1; \
	done; \
	exit $$rc

tools: $(UNIT_TOOL)

tools-test: $(UNIT_TOOL)
	@sh t/unit/test_tool.sh $(UNIT_TOOL) $(BUILD)/unit/tool-work

fuzz-build: $(FUZZ_BINS)

fuzz-smoke: $(FUZZ_BINS)
	@$(call UNIT_FUZZ_RUN,$(FUZZ_SMOKE_SECONDS))

fuzz: $(FUZZ_BINS)
	@$(call UNIT_FUZZ_RUN,$(FUZZ_SECONDS))

unit-clean:
	rm -rf $(BUILD)/unit $(BUILD)/fuzz $(UNIT_TOOL)


$(BUILD)/unit/test_json: t/unit/test_json.c $(UNIT_JSON).c $(UNIT_JSON).h
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_CPPFLAGS) -o $@ \
	    t/unit/test_json.c $(UNIT_JSON).c -lcmocka $(UNIT_LIBS)

$(BUILD)/unit/test_token: t/unit/test_token.c $(UNIT_TOKEN).c $(UNIT_TOKEN).h
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_CPPFLAGS) -o $@ \
	    t/unit/test_token.c $(UNIT_TOKEN).c -lcmocka $(UNIT_LIBS)

$(BUILD)/unit/test_passwd: t/unit/test_passwd.c $(UNIT_PASSWD).c \
                           $(UNIT_PASSWD).h $(UNIT_TOKEN).c $(UNIT_TOKEN).h
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_CPPFLAGS) -o $@ \
	    t/unit/test_passwd.c $(UNIT_PASSWD).c $(UNIT_TOKEN).c \
	    -lcmocka $(UNIT_LIBS)

$(BUILD)/unit/test_room: t/unit/test_room.c $(UNIT_ROOM).c $(UNIT_ROOM).h
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_CPPFLAGS) -o $@ \
	    t/unit/test_room.c $(UNIT_ROOM).c -lcmocka $(UNIT_LIBS)

$(UNIT_TOOL): tools/securechat-passwd.c $(UNIT_PASSWD).c $(UNIT_PASSWD).h \
              $(UNIT_TOKEN).c $(UNIT_TOKEN).h
	@mkdir -p $(@D)
	$(UNIT_CC) $(UNIT_CFLAGS) $(UNIT_CPPFLAGS) -o $@ \
	    tools/securechat-passwd.c $(UNIT_PASSWD).c $(UNIT_TOKEN).c \
	    $(UNIT_LIBS)

$(BUILD)/fuzz/%: fuzz/%.c $(UNIT_ALL_SRC) $(UNIT_ALL_HDR)
	@mkdir -p $(@D)
	$(FUZZ_CC) $(FUZZ_CFLAGS) $(UNIT_CPPFLAGS) -o $@ $< $(UNIT_ALL_SRC) \
	    $(UNIT_LIBS) \
	|| { echo "if the libFuzzer runtime is missing:" \
	          "apt-get install libclang-rt-14-dev" >&2; exit 1; }
