# Compiler and tool flags shared by mk/unit.mk, mk/crypto.mk and mk/ws.mk:
# one place to change warnings, sanitizers and valgrind options.  Each
# fragment still has its own prefixed variables (UNIT_CFLAGS, ...) that
# default to these, so that one can be overridden alone.

SC_CC          ?= gcc
SC_WARNINGS     = -W -Wall -Wextra -Wpointer-arith -Wno-unused-parameter \
                  -Werror
SC_CFLAGS      ?= -std=gnu99 -g -O1 $(SC_WARNINGS)

SC_FUZZ_CC     ?= clang
SC_FUZZ_CFLAGS ?= $(SC_CFLAGS) -fsanitize=fuzzer,address,undefined \
                  -fno-sanitize-recover=all -fno-omit-frame-pointer
SC_FUZZ_RUN    ?= -rss_limit_mb=2048 -timeout=25 -print_final_stats=1

SC_VALGRIND    ?= valgrind -q --error-exitcode=1 --leak-check=full \
                  --errors-for-leak-kinds=definite
