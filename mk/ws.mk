# Unit tests and the fuzzer for the WebSocket frame codec and the UTF-8
# validator (src/ngx_http_securechat_{frame,utf8}.c).  Meant to be included
# by the top Makefile next to mk/unit.mk; also usable alone from the project
# root:
#
#     make -f mk/ws.mk ws-unit ws-fuzz-smoke ws-unit-valgrind
#
# Targets:
#   ws-unit            build and run t/unit/test_{utf8,frame}
#   ws-unit-valgrind   the same under valgrind (definite leaks are errors)
#   ws-fuzz-smoke      fuzz_frame for WS_FUZZ_SMOKE_SECONDS, from the seeds
#   ws-fuzz            fuzz_frame for WS_FUZZ_SECONDS
#   ws-nginx-check     compile the codec with nginx's warning flags and after
#                      nginx's own headers (needs a configured $(BUILD)/nginx)
#   headers-check      every src/*.h alone, then every ordered pair of them,
#                      with nginx's flags and include paths: a header that
#                      needs another first, or two that clash, fails
#   ws-clean           remove what these targets built
#
# Every variable is prefixed WS_ so that it cannot collide with the including
# Makefile's or mk/unit.mk's own; the compiler flags come from mk/flags.mk.
# Everything is built under $(BUILD)/ws.

BUILD ?= build

# Debian packages these targets need (the libFuzzer, ASan and UBSan runtimes
# for clang 14 come with libclang-rt-14-dev)
WS_APT_PACKAGES = gcc make libc6-dev libcmocka-dev clang libclang-rt-14-dev \
                  valgrind

include mk/flags.mk

WS_CC         ?= $(SC_CC)
WS_CFLAGS     ?= $(SC_CFLAGS)
WS_CPPFLAGS    = -Isrc

# the warning flags nginx's own build uses (auto/cc/gcc), plus Debian's
WS_NGX_CFLAGS ?= -g -O2 -fstack-protector-strong -Wformat \
                 -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2 \
                 -W -Wall -Wpointer-arith -Wno-unused-parameter -Werror
WS_NGX_TREE   ?= $(BUILD)/nginx
WS_NGX_INC     = -I $(WS_NGX_TREE)/src/core -I $(WS_NGX_TREE)/src/event \
                 -I $(WS_NGX_TREE)/src/event/modules \
                 -I $(WS_NGX_TREE)/src/os/unix -I $(WS_NGX_TREE)/objs \
                 -I $(WS_NGX_TREE)/src/http \
                 -I $(WS_NGX_TREE)/src/http/modules \
                 -I $(WS_NGX_TREE)/src/http/v2
WS_HEADERS     = $(notdir $(wildcard src/*.h))
WS_JOBS       ?= $(shell nproc 2>/dev/null || echo 2)

WS_FUZZ_CC    ?= $(SC_FUZZ_CC)
WS_FUZZ_CFLAGS ?= $(SC_FUZZ_CFLAGS)
WS_FUZZ_SMOKE_SECONDS ?= 10
FUZZ_SECONDS  ?= 300
WS_FUZZ_SECONDS ?= $(FUZZ_SECONDS)
WS_FUZZ_RUN_FLAGS ?= $(SC_FUZZ_RUN) -max_len=70000

WS_VALGRIND   ?= $(SC_VALGRIND)

WS_SRC         = src/ngx_http_securechat_frame.c src/ngx_http_securechat_utf8.c
WS_HDR         = src/ngx_http_securechat_frame.h src/ngx_http_securechat_utf8.h
WS_TESTS       = $(BUILD)/ws/test_utf8 $(BUILD)/ws/test_frame
WS_FUZZ        = $(BUILD)/ws/fuzz_frame


# $(call WS_FUZZ_RUN,seconds): runs fuzz_frame on a working corpus in
# $(BUILD)/ws, seeded read-only from fuzz/corpus/fuzz_frame/, its chatter
# kept in a log; a crash shows the log's tail and fails the target.
define WS_FUZZ_RUN
mkdir -p $(BUILD)/ws/corpus $(BUILD)/ws/artifacts; \
log=$(BUILD)/ws/fuzz_frame.log; \
echo "== fuzz_frame for $(1)s (log: $$log)"; \
if $(WS_FUZZ) -max_total_time=$(1) $(WS_FUZZ_RUN_FLAGS) \
       -artifact_prefix=$(BUILD)/ws/artifacts/fuzz_frame- \
       $(BUILD)/ws/corpus fuzz/corpus/fuzz_frame >$$log 2>&1; \
then \
    grep -E '^(Done|stat::number_of_executed_units)' $$log; \
else \
    echo "fuzz_frame FAILED:"; tail -n 60 $$log; exit 1; \
fi
endef


.PHONY: ws-unit ws-unit-valgrind ws-fuzz-smoke ws-fuzz ws-fuzz-build \
        ws-nginx-check headers-check ws-clean


ws-unit: $(WS_TESTS)
	@rc=0; \
	for t in $(WS_TESTS); do \
	    echo "== $$t"; \
	    $$t || rc=1; \
	done; \
	exit $$rc

ws-unit-valgrind: $(WS_TESTS)
	@rc=0; \
	for t in $(WS_TESTS); do \
	    echo "== valgrind $$t"; \
	    $(WS_VALGRIND) $$t || rc=1; \
	done; \
	exit $$rc

ws-fuzz-build: $(WS_FUZZ)

ws-fuzz-smoke: $(WS_FUZZ)
	@$(call WS_FUZZ_RUN,$(WS_FUZZ_SMOKE_SECONDS))

ws-fuzz: $(WS_FUZZ)
	@$(call WS_FUZZ_RUN,$(WS_FUZZ_SECONDS))

# nginx's headers first, then ours, in one translation unit: catches name
# clashes and anything nginx's flags reject
ws-nginx-check: $(WS_SRC) $(WS_HDR)
	@if [ ! -f $(WS_NGX_TREE)/objs/ngx_auto_config.h ]; then \
	    echo "ws-nginx-check: no configured nginx tree in" \
	         "$(WS_NGX_TREE) (run make module first)" >&2; exit 1; \
	fi
	@mkdir -p $(BUILD)/ws
	printf '%s\n' '#include <ngx_config.h>' '#include <ngx_core.h>' \
	    '#include <ngx_http.h>' \
	    '#include "ngx_http_securechat_frame.h"' \
	    '#include "ngx_http_securechat_utf8.h"' \
	    > $(BUILD)/ws/nginx_check.c
	for f in $(BUILD)/ws/nginx_check.c $(WS_SRC); do \
	    $(WS_CC) $(WS_NGX_CFLAGS) -c -o /dev/null $(WS_NGX_INC) \
	        $(WS_CPPFLAGS) $$f || exit 1; \
	done

# Each header must compile alone (it includes what it needs), and after
# any other one: a macro in one that names an enum member, a type or a
# function of another breaks one of the two orders, which the source files
# might never use.  One translation unit per header and per ordered pair,
# syntax only, compiled $(WS_JOBS) at a time.
headers-check:
	@if [ ! -f $(WS_NGX_TREE)/objs/ngx_auto_config.h ]; then \
	    echo "headers-check: no configured nginx tree in" \
	         "$(WS_NGX_TREE) (run make module first)" >&2; exit 1; \
	fi
	@rm -rf $(BUILD)/ws/headers && mkdir -p $(BUILD)/ws/headers
	@cd $(BUILD)/ws/headers && \
	for a in $(WS_HEADERS); do \
	    printf '#include "%s"\n' $$a > $${a%.h}.c; \
	    for b in $(WS_HEADERS); do \
	        [ $$a = $$b ] && continue; \
	        printf '#include "%s"\n' $$a $$b > $${a%.h}+$${b%.h}.c; \
	    done; \
	done
	@echo "== headers-check: $(words $(WS_HEADERS)) headers alone and in" \
	      "every ordered pair"
	@ls $(BUILD)/ws/headers/*.c | xargs -P $(WS_JOBS) -n 1 sh -c \
	    '$(WS_CC) $(WS_NGX_CFLAGS) -fsyntax-only $(WS_NGX_INC) \
	         $(WS_CPPFLAGS) "$$0" 2>"$${0%.c}.err" \
	     || { echo "headers-check FAILED: $$(cat "$$0" | tr "\n" " ")"; \
	          head -n 8 "$${0%.c}.err"; exit 1; }'
	@echo "headers-check: $$(ls $(BUILD)/ws/headers/*.c | wc -l)" \
	      "translation units compile"

ws-clean:
	rm -rf $(BUILD)/ws


$(BUILD)/ws/test_utf8: t/unit/test_utf8.c $(WS_SRC) $(WS_HDR)
	@mkdir -p $(@D)
	$(WS_CC) $(WS_CFLAGS) $(WS_CPPFLAGS) -o $@ \
	    t/unit/test_utf8.c src/ngx_http_securechat_utf8.c -lcmocka

$(BUILD)/ws/test_frame: t/unit/test_frame.c $(WS_SRC) $(WS_HDR)
	@mkdir -p $(@D)
	$(WS_CC) $(WS_CFLAGS) $(WS_CPPFLAGS) -o $@ \
	    t/unit/test_frame.c $(WS_SRC) -lcmocka

$(WS_FUZZ): fuzz/fuzz_frame.c $(WS_SRC) $(WS_HDR)
	@mkdir -p $(@D)
	$(WS_FUZZ_CC) $(WS_FUZZ_CFLAGS) $(WS_CPPFLAGS) -o $@ \
	    fuzz/fuzz_frame.c $(WS_SRC) \
	|| { echo "if the libFuzzer runtime is missing:" \
	          "apt-get install libclang-rt-14-dev" >&2; exit 1; }
