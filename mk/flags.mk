# Compiler and tool flags, and the apt helper, shared by the Makefile and
# the mk/ fragments: one place to change warnings, sanitizers, valgrind
# options and how packages are installed.  Each
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

# $(call SC_APT_INSTALL,packages): installs, by Debian package name, those
# not installed yet; with sudo only when not root.  Not root and no sudo:
# prints the apt-get command to run as root and fails, installing nothing.
define SC_APT_INSTALL
missing=""; \
for p in $(sort $(1)); do \
    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
        | grep -q 'install ok installed' || missing="$$missing $$p"; \
done; \
if [ -n "$$missing" ]; then \
    sudo=""; \
    if [ "$$(id -u)" != 0 ]; then \
        if command -v sudo >/dev/null 2>&1; then sudo=sudo; else \
            echo "missing Debian packages, and no sudo to install them;" \
                 "as root, run:" >&2; \
            echo "    apt-get update && apt-get install" \
                 "--no-install-recommends$$missing" >&2; \
            exit 1; \
        fi; \
    fi; \
    echo "installing:$$missing"; \
    $$sudo apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq \
        --no-install-recommends $$missing >/dev/null; \
fi
endef
