#!/bin/sh
# Make's plumbing.  The install step (SC_APT_INSTALL in mk/flags.mk) as a
# user who is not root: without sudo it must print the apt-get command and
# fail, running nothing; with sudo it must install through sudo (apt-get
# and sudo are fakes that only record how they were called; run as root,
# these checks run as nobody, with setpriv).  And `make t` keeps the
# caller's PERL5LIB, through which a real Test::Nginx may be found.
#
#   sh t/unit/test_make.sh [mk/flags.mk [PROJECT_ROOT]]
set -u

flags=${1:-mk/flags.mk}
root=${2:-}
work=$(mktemp -d /tmp/sc-apt-test.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"
fails=0

fail() { echo "not ok - $*"; fails=$((fails + 1)); }
pass() { echo "ok - $*"; }

# a package that is certainly not installed
pkg=securechat-no-such-package

cp "$flags" "$work/flags.mk"
cat > "$work/Makefile" <<EOF
include flags.mk
deps:
	@\$(call SC_APT_INSTALL,$pkg)
EOF

# bin/: the tools the step uses, and no sudo; sudo/: the same plus a sudo
mkdir -p "$work/bin" "$work/sudo"
for t in sh make dpkg-query grep id; do
    p=$(command -v $t) || { echo "not ok - no $t"; exit 1; }
    ln -s "$p" "$work/bin/$t"
    ln -s "$p" "$work/sudo/$t"
done
for d in bin sudo; do
    printf '#!/bin/sh\necho "apt-get $*" >> %s/calls\n' "$work" \
        > "$work/$d/apt-get"
done
printf '#!/bin/sh\necho "sudo $*" >> %s/calls\n"$@"\n' "$work" \
    > "$work/sudo/sudo"
chmod 755 "$work"/bin/* "$work"/sudo/* 2>/dev/null
: > "$work/calls"; chmod 666 "$work/calls"

as_user() {
    if [ "$(id -u)" = 0 ]; then
        setpriv --reuid=65534 --regid=65534 --clear-groups "$@"
    else
        "$@"
    fi
}

# 1. not root, no sudo: says what to run, fails, runs nothing
out=$(cd "$work" && as_user env -i PATH="$work/bin" HOME="$work" \
          make -s deps 2>&1)
rc=$?
[ $rc -ne 0 ] && pass "no sudo: fails (exit $rc)" \
    || fail "no sudo: exit 0"
case $out in
    *"apt-get install"*"$pkg"*) pass "no sudo: names the apt-get command" ;;
    *) fail "no sudo: no apt-get command in the output: $out" ;;
esac
case $out in
    *"sudo: not found"*|*"sudo: command not found"*)
        fail "no sudo: tried sudo: $out" ;;
    *) pass "no sudo: does not try sudo" ;;
esac
[ ! -s "$work/calls" ] && pass "no sudo: runs nothing" \
    || fail "no sudo: ran $(cat "$work/calls")"

# 2. not root, with sudo: apt-get through sudo
: > "$work/calls"
out=$(cd "$work" && as_user env -i PATH="$work/sudo" HOME="$work" \
          make -s deps 2>&1)
rc=$?
[ $rc -eq 0 ] && pass "sudo: succeeds" || fail "sudo: exit $rc: $out"
grep -q "^sudo apt-get install .*$pkg" "$work/calls" \
    && pass "sudo: apt-get install through sudo" \
    || fail "sudo: calls were: $(cat "$work/calls")"

# 3. make t's PERL5LIB: t/lib, then the caller's, then the stand-in only
# when no Test::Nginx::Socket is found (a fake one here)
if [ -n "$root" ]; then
    mkdir -p "$work/perl/Test/Nginx"
    echo 'package Test::Nginx::Socket; 1;' > "$work/perl/Test/Nginx/Socket.pm"
    got=$(PERL5LIB="$work/perl" make -s --no-print-directory -C "$root" t-env)
    [ "$got" = "$root/t/lib:$work/perl" ] \
        && pass "PERL5LIB with a Test::Nginx: kept, no stand-in" \
        || fail "PERL5LIB with a Test::Nginx became '$got'"
    got=$(PERL5LIB="$work" make -s --no-print-directory -C "$root" t-env)
    [ "$got" = "$root/t/lib:$work:$root/t/stand-in" ] \
        && pass "PERL5LIB without one: kept, then the stand-in" \
        || fail "PERL5LIB without a Test::Nginx became '$got'"
fi

[ $fails -eq 0 ] && echo "test_make: all passed" \
    || echo "test_make: $fails failed"
[ $fails -eq 0 ]
