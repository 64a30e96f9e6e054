#!/bin/sh
# The Debian package: `make deb` builds it from a clean copy of the tree,
# it holds what debian/README.Debian says where it says, depends on the
# nginx ABI dh_nginx computes, and `make deb-lint` finds no lintian error.
# Nothing is installed on this system (see t/unit/test_deb_install.sh for
# that, in a fresh Debian).
#
#   sh t/unit/test_deb.sh [BUILD_DIR]      (from the project root)
set -u

build=${1:-build}
out=$build/deb
fails=0

fail() { echo "not ok - $*"; fails=$((fails + 1)); }
pass() { echo "ok - $*"; }
finish() {
    if [ $fails -eq 0 ]; then echo "test_deb: all passed"; exit 0; fi
    echo "test_deb: $fails failed"
    exit 1
}
trap finish EXIT

# a leftover in build/ must not reach the package
mkdir -p "$build"
echo leftover > "$build/test-deb-leftover"

if make -s --no-print-directory deb BUILD="$build" > "$build/test-deb.log" 2>&1
then
    pass "make deb"
else
    fail "make deb: $(tail -n 20 "$build/test-deb.log")"
    exit 1
fi
rm -f "$build/test-deb-leftover"

deb=$(ls "$out"/libnginx-mod-http-securechat_*.deb 2>/dev/null | head -n 1)
[ -n "$deb" ] && pass "the .deb is in $out/" || { fail "no .deb in $out/"; exit 1; }

list=$(dpkg-deb -c "$deb" | awk '{print $6}' | sed 's|^\./|/|')
for f in /usr/lib/nginx/modules/ngx_http_securechat_module.so \
         /usr/share/nginx/modules-available/mod-http-securechat.conf \
         /usr/sbin/securechat-passwd \
         /usr/bin/securechat-cli \
         /usr/share/securechat/cli/securechat-cli.mjs \
         /usr/share/securechat/package.json \
         /usr/share/securechat/html/index.html \
         /usr/share/securechat/html/securechat.js \
         /usr/share/doc/libnginx-mod-http-securechat/README.Debian \
         /usr/share/doc/libnginx-mod-http-securechat/examples/securechat.site \
         /usr/share/doc/libnginx-mod-http-securechat/examples/securechat-thread-pools.conf \
         /var/lib/securechat/
do
    echo "$list" | grep -qx "$f" && pass "holds $f" || fail "no $f"
done
echo "$list" | grep -q 'leftover\|node_modules\|/state/' \
    && fail "build leftovers in the package" || pass "no build leftovers"

work=$(mktemp -d /tmp/sc-deb-test.XXXXXX)
dpkg-deb -x "$deb" "$work"
snippet=$work/usr/share/nginx/modules-available/mod-http-securechat.conf
[ "$(cat "$snippet")" = "load_module modules/ngx_http_securechat_module.so;" ] \
    && pass "the load snippet" || fail "load snippet: $(cat "$snippet")"
rm -rf "$work"

abi=$(sed -n 's/^nginx:abi=//p' /usr/share/nginx/src/debian/libnginx-mod.abisubstvars)
depends=$(dpkg-deb -f "$deb" Depends)
echo "$depends" | grep -q "$abi" && pass "Depends: $abi" \
    || fail "Depends has no $abi: $depends"
echo "$depends" | grep -q 'libjansson4' && pass "Depends: libjansson4 (shlibs)" \
    || fail "Depends has no libjansson4: $depends"

if make -s --no-print-directory deb-lint BUILD="$build" \
        > "$build/test-deb-lint.log" 2>&1; then
    pass "make deb-lint: $(tail -n 1 "$build/test-deb-lint.log")"
else
    fail "make deb-lint: $(cat "$build/test-deb-lint.log")"
fi
