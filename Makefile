# ngx_http_securechat_module
#
#   make run    install what is missing, build, run nginx on port 8000
#   make test   install what is missing, build, run every test
#
# See README.md for the rest.

SHELL := /bin/bash

NGINX_SRC   ?= /usr/share/nginx/src
NGINX_BIN   ?= /usr/sbin/nginx
BUILD       ?= build
STATE       ?= state
PORT        ?= 8000

MODULE_SO   := $(BUILD)/modules/ngx_http_securechat_module.so
NGX_BUILD   := $(BUILD)/nginx
NGX_STAMP   := $(NGX_BUILD)/.configured

# the flags Debian builds its nginx with, so the module loads into it
DEB_CC_OPT  := -g -O2 -fstack-protector-strong -Wformat \
               -Werror=format-security -fPIC -D_FORTIFY_SOURCE=2
DEB_LD_OPT  := -Wl,-z,relro -Wl,-z,now -fPIC

APT_PACKAGES := nginx nginx-dev libssl-dev libjansson-dev openssl \
                gcc make perl libtest-base-perl libcryptx-perl \
                libio-socket-ssl-perl \
                libcmocka-dev clang valgrind

MODULE_SRCS := config ngx_http_securechat_module.c \
               $(wildcard src/*.c src/*.h)

include mk/unit.mk
include mk/crypto.mk
include mk/ws.mk
include mk/bench.mk
include mk/browser.mk

.PHONY: all deps module run test test-valgrind unit-tests t fixtures \
        clean bench

all: module

# -- dependencies ----------------------------------------------------------

# only what is missing, by Debian package name; sudo only when not root
deps:
	@$(call SC_APT_INSTALL,$(APT_PACKAGES) $(UNIT_APT_PACKAGES) $(CRYPTO_APT_PACKAGES) $(WS_APT_PACKAGES))

# -- the module --------------------------------------------------------------

module: $(MODULE_SO)

# configure a private copy of the nginx tree, never the system's own
$(NGX_STAMP): config | deps
	rm -rf $(NGX_BUILD)
	mkdir -p $(BUILD)
	cp -a $(NGINX_SRC)/. $(NGX_BUILD)
	cd $(NGX_BUILD) && \
	if [ -f conf_flags ]; then . ./conf_flags; else NGX_CONF_FLAGS=( \
	    --with-compat --with-threads --with-http_ssl_module ); fi; \
	if [ -x configure ]; then cfg=./configure; else cfg=auto/configure; fi; \
	env -u CFLAGS $$cfg "$${NGX_CONF_FLAGS[@]}" \
	    --with-cc-opt="$(DEB_CC_OPT)" --with-ld-opt="$(DEB_LD_OPT)" \
	    --add-dynamic-module=$(CURDIR) > configure.log 2>&1 \
	    || { tail -30 configure.log; exit 1; }
	touch $@

$(MODULE_SO): $(NGX_STAMP) $(MODULE_SRCS)
	$(MAKE) -C $(NGX_BUILD) -f objs/Makefile modules
	mkdir -p $(dir $@)
	cp $(NGX_BUILD)/objs/ngx_http_securechat_module.so $@

# -- running -------------------------------------------------------------

# the state directory: made once, reused by every later `make run`
$(STATE)/.ready: | tools
	tools/make-state.sh $(STATE) $(BUILD)/bin/securechat-passwd
	touch $@

run: $(MODULE_SO) $(STATE)/.ready
	mkdir -p $(STATE)/logs
	@echo "securechat: http://localhost:$(PORT)/  (Ctrl-C stops it)"
	exec $(NGINX_BIN) -p $(CURDIR)/ -c conf/securechat.conf \
	    -g 'daemon off; master_process on;'

# -- tests -----------------------------------------------------------------

FIXTURES := $(BUILD)/fixtures

fixtures: $(FIXTURES)/.ready

$(FIXTURES)/.ready: t/make-fixtures.sh | tools
	t/make-fixtures.sh $(FIXTURES) $(BUILD)/bin/securechat-passwd
	touch $@

# the real Test::Nginx when it is installed, else the stand-in in t/
TEST_ENV = TEST_NGINX_BINARY=$(NGINX_BIN) \
           TEST_NGINX_MODULE=$(CURDIR)/$(MODULE_SO) \
           TEST_NGINX_FIXTURES=$(CURDIR)/$(FIXTURES) \
           PERL5LIB=$(CURDIR)/t/lib$$(perl -MTest::Nginx::Socket -e1 \
               2>/dev/null || echo ":$(CURDIR)/t/stand-in")

t: $(MODULE_SO) fixtures
	$(TEST_ENV) prove -r t

test: deps
	$(MAKE) module
	$(MAKE) headers-check
	$(MAKE) unit tools-test crypto-unit ws-unit
	$(MAKE) fuzz-smoke crypto-fuzz-smoke ws-fuzz-smoke
	$(MAKE) crypto-vectors-check
	$(MAKE) t
	$(MAKE) browser-deps js-unit browser-test NGINX=$(NGINX_BIN)

# the suite again with nginx under valgrind; fails on memory errors
test-valgrind: deps
	$(MAKE) module fixtures
	$(MAKE) unit-valgrind crypto-unit-valgrind ws-unit-valgrind
	$(TEST_ENV) TEST_NGINX_USE_VALGRIND=1 prove -r t

# `make fuzz` runs every fuzz target at length
fuzz: crypto-fuzz ws-fuzz

clean:
	rm -rf $(BUILD) t/servroot
