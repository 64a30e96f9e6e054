# The web page (html/), its client library (html/securechat.js) and the
# command-line client (tools/securechat-cli.mjs): unit tests against
# docs/vectors.json, and Playwright tests in Debian's Chromium against a real
# nginx with the module.  Meant to be included by the top Makefile; also
# usable alone from the project root:
#
#     make -f mk/browser.mk browser-deps js-unit browser-test
#
# Targets:
#   browser-deps   chromium, nodejs and npm from apt when missing (Debian
#                  12's Node.js 18 and npm 9 will do), then `npm ci` (ws,
#                  playwright-core; no browser is ever downloaded)
#   js-unit        node --test t/js: the library against the test vectors
#   browser-test   node --test t/browser: the page in headless Chromium and
#                  the CLI, against nginx started by the tests on ports
#                  $(BROWSER_TEST_PORT) and $(BROWSER_TEST_PORT_ED);
#                  screenshots in $(BUILD)/screenshots/
#
# Variables are prefixed BROWSER_ where they could collide; NGINX and
# MODULE_SO name the nginx binary and the module the tests load.

include mk/flags.mk

BUILD               ?= build
NGINX               ?= /usr/sbin/nginx
MODULE_SO           ?= $(BUILD)/modules/ngx_http_securechat_module.so
CHROMIUM            ?= /usr/bin/chromium
BROWSER_PASSWD_TOOL ?= $(BUILD)/bin/securechat-passwd
BROWSER_TEST_PORT    ?= 2201
BROWSER_TEST_PORT_ED ?= 2202

# Debian packages: the browser, Node.js (18 or later) and npm, each only
# when what it provides is missing: a Node.js from elsewhere (which comes
# with its own npm) is used as it is, never replaced by Debian's
BROWSER_APT_PACKAGES = $(if $(wildcard $(CHROMIUM)),,chromium) \
                       $(if $(shell command -v node),,nodejs) \
                       $(if $(shell command -v npm),,npm)

BROWSER_NODE_STAMP = node_modules/.package-lock.json

.PHONY: browser-deps js-unit browser-test

browser-deps: $(BROWSER_NODE_STAMP)
	@test -x $(CHROMIUM) || { echo "no $(CHROMIUM)"; exit 1; }

$(BROWSER_NODE_STAMP): package.json package-lock.json
	@$(call SC_APT_INSTALL,$(BROWSER_APT_PACKAGES))
	@node -e 'process.exit(+process.versions.node.split(".")[0] >= 18 ? 0 : 1)' \
	    || { echo "Node.js 18 or later is needed (node --version: $$(node --version))"; exit 1; }
	@echo "node $$(node --version), npm $$(npm --version)"
	PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund
	touch $@

js-unit:
	node --test t/js/

# the tests start their own nginx; they need the module and the passwd
# tool.  One file at a time (Node 18's runner has no --test-concurrency).
browser-test: browser-deps $(MODULE_SO) $(BROWSER_PASSWD_TOOL)
	mkdir -p $(BUILD)/screenshots
	@rc=0; for f in t/browser/*.test.mjs; do \
	    echo "node --test $$f"; \
	    NGINX_BIN=$(NGINX) MODULE_SO=$(abspath $(MODULE_SO)) \
	    PASSWD_TOOL=$(abspath $(BROWSER_PASSWD_TOOL)) CHROMIUM=$(CHROMIUM) \
	    BROWSER_TEST_PORT=$(BROWSER_TEST_PORT) \
	    BROWSER_TEST_PORT_ED=$(BROWSER_TEST_PORT_ED) \
	        node --test $$f || rc=1; \
	done; exit $$rc
