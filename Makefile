# ngx_http_securechat_module
#
#   make run    install what is missing, build, run nginx on port 8000
#               (PORT=8001 for another; make reload, make stop from
#               another terminal; make password for a new demo password)
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
                gcc make perl libtest-base-perl libhttp-message-perl \
                libcryptx-perl libio-socket-ssl-perl \
                libcmocka-dev clang valgrind

MODULE_SRCS := config ngx_http_securechat_module.c \
               $(wildcard src/*.c src/*.h)

include mk/unit.mk
include mk/crypto.mk
include mk/ws.mk
include mk/bench.mk
include mk/browser.mk
include mk/deb.mk

.PHONY: all deps module run reload stop password test test-valgrind \
        unit-tests t t-env make-test run-test fixtures clean bench

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

# What nginx runs: conf/securechat.conf (the documented default) with the
# port of PORT (nginx takes no listen from the command line) and absolute
# paths to $(STATE) and the module, written into $(STATE).  `make reload`
# writes it again (after an edit of conf/) with the port of the last
# `make run` unless PORT is given.
RUN_CONF     = $(abspath $(STATE))/securechat.conf
RUN_NGINX    = $(NGINX_BIN) -p $(CURDIR)/ -c $(RUN_CONF)
RUN_PORT     = $(if $(filter command line environment,$(origin PORT)),$(PORT),$$(cat $(STATE)/port 2>/dev/null || echo $(PORT)))

# $(call RUN_CONF_WRITE,port)
define RUN_CONF_WRITE
port=$(1); \
case "$$port" in ''|*[!0-9]*) echo "PORT must be a number: $$port" >&2; exit 1;; esac; \
[ "$$port" -ge 1 ] && [ "$$port" -le 65535 ] \
    || { echo "PORT must be 1 to 65535: $$port" >&2; exit 1; }; \
grep -Eq '^[[:space:]]*listen[[:space:]]+8000;' conf/securechat.conf \
    || { echo "conf/securechat.conf has no 'listen 8000;' for PORT" >&2; exit 1; }; \
sed -e "s|^\([[:space:]]*listen[[:space:]]*\)8000;|\1$$port;|" \
    -e "s|//localhost:8000\b|//localhost:$$port|g" \
    -e "s|//127\.0\.0\.1:8000\b|//127.0.0.1:$$port|g" \
    -e "s|\.\./state/|$(abspath $(STATE))/|g" \
    -e "s|\([[:space:]]\)state/|\1$(abspath $(STATE))/|g" \
    -e "s|build/modules/ngx_http_securechat_module\.so|$(abspath $(MODULE_SO))|" \
    conf/securechat.conf > $(RUN_CONF).tmp && mv $(RUN_CONF).tmp $(RUN_CONF); \
echo "$$port" > $(STATE)/port
endef

# the demo password make-state.sh made, shown last and once
define RUN_SHOW_PASSWORD
if [ -s $(STATE)/demo-password ]; then \
    line=$$(cat $(STATE)/demo-password); \
    echo; \
    echo "  +------------------------------------------------------------+"; \
    printf '  |  %-58s|\n' "log in as:  $$line" \
        "(user: password; shown this once, only its hash is kept)" \
        "a new one: make password (then make reload)"; \
    echo "  +------------------------------------------------------------+"; \
    echo; \
    rm -f $(STATE)/demo-password; \
fi
endef

run: $(MODULE_SO) $(STATE)/.ready
	@mkdir -p $(STATE)/logs
	@$(call RUN_CONF_WRITE,$(PORT))
	@$(call RUN_SHOW_PASSWORD)
	@echo "securechat: http://localhost:$(PORT)/  (Ctrl-C or make stop" \
	      "stops it, make reload reloads it)"
	@exec $(RUN_NGINX) -g 'daemon off; master_process on;'

# signal the nginx of `make run` (its pid file is in $(STATE)); no rebuild
# here: nginx does not take a changed module at reload
reload:
	@$(call RUN_CONF_WRITE,$(RUN_PORT))
	$(RUN_NGINX) -s reload

stop:
	$(RUN_NGINX) -s stop

# a new random password for a user of $(STATE)/users (default demo)
PASSWORD_USER ?= demo
password: $(STATE)/.ready
	@$(BUILD)/bin/securechat-passwd -g $(STATE)/users $(PASSWORD_USER) \
	    > $(STATE)/demo-password
	@$(call RUN_SHOW_PASSWORD)

# -- tests -----------------------------------------------------------------

FIXTURES := $(BUILD)/fixtures

fixtures: $(FIXTURES)/.ready

$(FIXTURES)/.ready: t/make-fixtures.sh | tools
	t/make-fixtures.sh $(FIXTURES) $(BUILD)/bin/securechat-passwd
	touch $@

# the real Test::Nginx when it is installed, else the stand-in in t/
# (found through the caller's PERL5LIB, which is kept)
TEST_ENV = TEST_NGINX_BINARY=$(NGINX_BIN) \
           TEST_NGINX_MODULE=$(CURDIR)/$(MODULE_SO) \
           TEST_NGINX_FIXTURES=$(CURDIR)/$(FIXTURES) \
           PERL5LIB=$(CURDIR)/t/lib$${PERL5LIB:+:$$PERL5LIB}$$(perl \
               -MTest::Nginx::Socket -e1 2>/dev/null \
               || echo ":$(CURDIR)/t/stand-in")

t: $(MODULE_SO) fixtures
	$(TEST_ENV) prove -r t

# the PERL5LIB `make t` runs the suite with
t-env:
	@$(TEST_ENV) printenv PERL5LIB

# the install step and make's test environment (t/unit/test_make.sh)
make-test:
	@sh t/unit/test_make.sh mk/flags.mk $(CURDIR)

# make run PORT=..., make reload, make stop, in a state dir of their own
RUN_TEST_PORT ?= 2211
run-test: $(MODULE_SO) tools
	@sh t/unit/test_run.sh $(RUN_TEST_PORT) $(BUILD)/run-test

test: deps
	$(MAKE) module
	$(MAKE) headers-check
	$(MAKE) unit tools-test crypto-unit ws-unit make-test
	$(MAKE) fuzz-smoke crypto-fuzz-smoke ws-fuzz-smoke
	$(MAKE) crypto-vectors-check
	$(MAKE) t run-test
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
