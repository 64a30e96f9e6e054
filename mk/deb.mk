# The Debian package libnginx-mod-http-securechat (debian/), built the way
# Debian builds its own nginx modules: dh with the nginx sequence of
# nginx-dev (dh_nginx), against /usr/share/nginx/src.  Included by the top
# Makefile; also usable alone from the project root:
#
#     make -f mk/deb.mk deb deb-lint
#
# Targets:
#   deb-deps          the build dependencies, from Debian, by name
#   deb               dpkg-buildpackage -us -uc -b in a clean copy of the
#                     tree (the files git knows, edits included: no
#                     build/, state/, node_modules/); the .deb in $(DEB_OUT)/
#   deb-lint          lintian on that .deb; fails on any error (E:)
#   deb-test          deb and deb-lint, and what the .deb holds
#                     (t/unit/test_deb.sh; not part of `make test`)
#   deb-install-test  the .deb built, installed and run in a brand-new
#                     Debian 12 (../shared/fresh-debian/check, root):
#                     keys, secret and users made with the packaged
#                     tools, the example site enabled, nginx -t, nginx
#                     started, a login over loopback, the CLI, removal
#                     and purge (t/unit/test_deb_install.sh)
#
# Variables are prefixed DEB_ so they cannot collide with the including
# Makefile's.

BUILD ?= build

include mk/flags.mk

DEB_OUT       = $(BUILD)/deb
DEB_SRC       = $(DEB_OUT)/src/libnginx-mod-http-securechat
DEB_PACKAGE   = libnginx-mod-http-securechat
DEB_VERSION   = $(shell dpkg-parsechangelog -l debian/changelog -S Version 2>/dev/null)
DEB_ARCH      = $(shell dpkg --print-architecture)
DEB_FILE      = $(DEB_OUT)/$(DEB_PACKAGE)_$(DEB_VERSION)_$(DEB_ARCH).deb

# what debian/control's Build-Depends name, build-essential (which
# dpkg-buildpackage checks for too), and the tools that run them
DEB_APT_PACKAGES = build-essential dpkg-dev debhelper nginx-dev \
                   libjansson-dev libssl-dev fakeroot git
DEB_LINT_APT_PACKAGES = lintian

# the fresh Debian check (root, debootstrap); FRESH_DEBIAN_CHECK for
# another copy of it, as in .ci/run
DEB_FRESH_CHECK ?= $(or $(FRESH_DEBIAN_CHECK),../shared/fresh-debian/check)
# the port the installed nginx listens on there, on 127.0.0.1 (the fresh
# Debian shares this machine's network)
DEB_TEST_PORT   ?= 2241

.PHONY: deb deb-deps deb-lint deb-test deb-install-test deb-install-check \
        deb-clean


deb-deps:
	@$(call SC_APT_INSTALL,$(DEB_APT_PACKAGES))

# A clean copy of the tree: the files git knows, as they are on disk
# (tracked, or new and not ignored), so nothing in build/, state/ or
# node_modules/ reaches the package; without git (an exported tree) all
# but those.  The build runs there and leaves its .deb, .buildinfo and
# .changes in $(DEB_OUT), its log in $(DEB_OUT)/build.log.
deb: deb-deps
	@test -n "$(DEB_VERSION)" || { echo "no version in debian/changelog"; exit 1; }
	rm -rf $(DEB_OUT)
	mkdir -p $(DEB_SRC)
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	    git ls-files -z --cached --others --exclude-standard \
	        | xargs -0 cp --parents -a -t $(DEB_SRC); \
	else \
	    tar --exclude=./$(BUILD) --exclude=./state \
	        --exclude=./node_modules --exclude='./t/servroot*' -cf - . \
	        | tar -C $(DEB_SRC) -xf -; \
	fi
	cd $(DEB_SRC) && dpkg-buildpackage -us -uc -b \
	    > $(abspath $(DEB_OUT))/build.log 2>&1 \
	    || { tail -40 $(abspath $(DEB_OUT))/build.log; exit 1; }
	mv $(DEB_OUT)/src/*.deb $(DEB_OUT)/src/*.buildinfo \
	    $(DEB_OUT)/src/*.changes $(DEB_OUT)/
	rm -rf $(DEB_OUT)/src
	@echo "deb: $(DEB_FILE) (build log: $(DEB_OUT)/build.log)"
	@dpkg-deb --field $(DEB_FILE) Package Version Depends Recommends

# lintian's tags one a line; an E: fails the target, W: and I: are shown
deb-lint:
	@$(call SC_APT_INSTALL,$(DEB_LINT_APT_PACKAGES))
	@test -f $(DEB_FILE) || { echo "no $(DEB_FILE): make deb first"; exit 1; }
	@lintian --display-info --tag-display-limit 0 $(DEB_FILE) \
	    > $(DEB_OUT)/lintian.txt 2>&1; \
	cat $(DEB_OUT)/lintian.txt; \
	if grep -q '^E:' $(DEB_OUT)/lintian.txt; then \
	    echo "deb-lint: lintian reports errors"; exit 1; \
	fi; \
	echo "deb-lint: no lintian errors ($$(grep -c '^W:' $(DEB_OUT)/lintian.txt) warnings)"

deb-test:
	@sh t/unit/test_deb.sh $(BUILD)

# on this machine: the same steps in a brand-new Debian 12 (committed tree)
deb-install-test:
	@test "$$(id -u)" = 0 || { echo "deb-install-test: needs root (debootstrap, chroot)"; exit 1; }
	@test -x $(DEB_FRESH_CHECK) || { echo "deb-install-test: no $(DEB_FRESH_CHECK)"; exit 1; }
	$(DEB_FRESH_CHECK) deb-install-check DEB_IN_FRESH_DEBIAN=yes \
	    DEB_TEST_PORT=$(DEB_TEST_PORT)

# inside the fresh Debian only: installs nginx and the package, writes
# /etc/nginx and /var/lib/securechat and starts nginx; refused elsewhere
deb-install-check:
	@test "$(DEB_IN_FRESH_DEBIAN)" = yes || { echo "deb-install-check" \
	    "changes this system's nginx: run make deb-install-test"; exit 1; }
	@sh t/unit/test_deb_install.sh $(DEB_TEST_PORT)

deb-clean:
	rm -rf $(DEB_OUT)
