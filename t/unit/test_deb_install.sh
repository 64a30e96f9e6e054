#!/bin/sh
# The Debian package on a Debian 12 of its own: built with `make deb`,
# installed with apt (Debian's nginx, nodejs and node-ws with it), the
# signing key, session secret and a user made with the packaged tools as
# debian/README.Debian says, the example site and thread pools enabled,
# `nginx -t`, nginx started, the page and a login over loopback, the CLI
# sending a message, then removal and purge.
#
# It changes the system it runs on (packages, /etc/nginx, services), so
# it runs only in the fresh Debian of `make deb-install-test`
# (../shared/fresh-debian/check), as root:
#
#   sh t/unit/test_deb_install.sh PORT      (from the project root)
set -u

port=${1:?usage: test_deb_install.sh PORT}
fails=0
nginx_pid=
state=/var/lib/securechat
doc=/usr/share/doc/libnginx-mod-http-securechat
work=$(mktemp -d /tmp/sc-deb-install.XXXXXX)

fail() { echo "not ok - $*"; fails=$((fails + 1)); }
pass() { echo "ok - $*"; }
finish() {
    # only the nginx this script started
    if [ -n "$nginx_pid" ] && kill -0 "$nginx_pid" 2>/dev/null; then
        kill -QUIT "$nginx_pid"; sleep 2
        kill -0 "$nginx_pid" 2>/dev/null && kill -KILL "$nginx_pid"
    fi
    rm -f /usr/sbin/policy-rc.d
    if [ $fails -eq 0 ]; then echo "test_deb_install: all passed"; exit 0; fi
    echo "test_deb_install: $fails failed"
    [ -f /var/log/nginx/error.log ] && tail -n 20 /var/log/nginx/error.log
    exit 1
}
trap finish EXIT

[ "$(id -u)" = 0 ] || { echo "test_deb_install: needs root"; exit 1; }

# a chroot: packages must not start services (nginx on port 80 of the
# machine's network); this script starts its own nginx
printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d
chmod 755 /usr/sbin/policy-rc.d

if make -s --no-print-directory deb > "$work/deb.log" 2>&1; then
    pass "make deb"
else
    fail "make deb: $(tail -n 30 "$work/deb.log")"; exit 1
fi
deb=$(ls "$PWD"/build/deb/libnginx-mod-http-securechat_*_"$(dpkg --print-architecture)".deb)

# what a user does: apt installs the package and what it depends on and
# recommends (nginx, nodejs, node-ws, openssl); curl for the test
if DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$deb" curl \
       > "$work/apt.log" 2>&1; then
    pass "apt-get install the .deb"
else
    fail "apt-get install: $(tail -n 20 "$work/apt.log")"; exit 1
fi
for p in nginx nodejs node-ws openssl; do
    dpkg-query -W -f='${Status}\n' $p 2>/dev/null | grep -q 'ok installed' \
        && pass "$p installed with it" || fail "$p not installed"
done

[ "$(stat -c '%U:%G %a' $state)" = "www-data:www-data 700" ] \
    && pass "$state is www-data's, 0700" \
    || fail "$state: $(stat -c '%U:%G %a' $state)"
link=/etc/nginx/modules-enabled/50-mod-http-securechat.conf
[ "$(readlink $link)" = /usr/share/nginx/modules-available/mod-http-securechat.conf ] \
    && pass "the load snippet is enabled" || fail "no $link"

# README.Debian, step 1: key, secret, a user
(
    set -e
    cd $state
    umask 077
    openssl genpkey -algorithm ED25519 -out signing-key.pem
    openssl rand -hex 32 > session-secret
    securechat-passwd -g users alice > "$work/alice"
) && pass "key, secret and user made" || fail "making the state"
password=$(sed -n 's/^alice: //p' "$work/alice")
[ -n "$password" ] && pass "securechat-passwd -g printed a password" \
    || fail "no password: $(cat "$work/alice")"
securechat-passwd -c $state/users > /dev/null 2>&1 \
    && pass "securechat-passwd -c" || fail "securechat-passwd -c"

# steps 2 and 3: the thread pools and the site (on the test's port; the
# loopback only, no IPv6 listen; the default site is taken away, port
# 80 is not ours)
cp $doc/examples/securechat-thread-pools.conf \
   /etc/nginx/modules-enabled/60-securechat-thread-pools.conf
sed -e "s/listen\( *\)8000;/listen\1127.0.0.1:$port;/" \
    -e '/listen *\[::\]:8000;/d' \
    $doc/examples/securechat.site > /etc/nginx/sites-available/securechat
ln -sf ../sites-available/securechat /etc/nginx/sites-enabled/securechat
rm -f /etc/nginx/sites-enabled/default

if nginx -t > "$work/t.log" 2>&1; then
    pass "nginx -t"
else
    fail "nginx -t: $(cat "$work/t.log")"; exit 1
fi

# step 4 (no systemd in a chroot: nginx itself, as its unit runs it)
if nginx > "$work/start.log" 2>&1; then
    nginx_pid=$(cat /run/nginx.pid)
    pass "nginx started (pid $nginx_pid)"
else
    fail "nginx: $(cat "$work/start.log")"; exit 1
fi
base=http://127.0.0.1:$port
up() { curl -s -o /dev/null "$base/api/"; }
i=0; while ! up && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done

code=$(curl -s -o "$work/welcome" -w '%{http_code}' "$base/api/")
[ "$code" = 200 ] && grep -q '"signing_key"' "$work/welcome" \
    && pass "GET /api/ 200" || fail "GET /api/: $code $(cat "$work/welcome")"
code=$(curl -s -o "$work/page" -w '%{http_code}' "$base/")
[ "$code" = 200 ] && grep -qi '<html' "$work/page" \
    && pass "GET / serves the page" || fail "GET /: $code"

code=$(curl -s -o "$work/login" -D "$work/login.h" -w '%{http_code}' \
           -H 'Content-Type: application/json' \
           --data "{\"username\":\"alice\",\"password\":\"$password\"}" \
           "$base/api/login")
if [ "$code" = 200 ] && grep -q '"user": *"alice"' "$work/login" \
   && grep -qi '^set-cookie: sc_session=' "$work/login.h"; then
    pass "POST /api/login 200, a session cookie"
else
    fail "POST /api/login: $code $(cat "$work/login")"
fi
code=$(curl -s -o /dev/null -w '%{http_code}' \
           -H 'Content-Type: application/json' \
           --data '{"username":"alice","password":"wrong"}' "$base/api/login")
[ "$code" = 401 ] && pass "a wrong password 401" || fail "wrong password: $code"

# the CLI: Debian's node and node-ws, nothing from npm
if securechat-cli --help > "$work/cli-help" 2>&1; then
    pass "securechat-cli --help"
else
    fail "securechat-cli --help: $(cat "$work/cli-help")"
fi
echo "hello from the package" \
    | SECURECHAT_PASSWORD=$password HOME=$work timeout 30 \
      securechat-cli --url "$base" --user alice --history \
      > "$work/cli.out" 2> "$work/cli.err"
rc=$?
if [ $rc -eq 0 ]; then
    pass "securechat-cli logs in, sends and logs out"
else
    fail "securechat-cli exited $rc: $(cat "$work/cli.err")"
fi
# a second one, with --history, verifies and decrypts what the first sent
sleep 5 | SECURECHAT_PASSWORD=$password HOME=$work timeout 30 \
    securechat-cli --url "$base" --user alice --history \
    > "$work/cli2.out" 2> "$work/cli2.err"
if grep -q '\] alice: hello from the package$' "$work/cli2.out"; then
    pass "securechat-cli --history shows the message, verified"
else
    fail "the message not in the history: $(cat "$work/cli2.out" "$work/cli2.err")"
fi

grep -q '\[alert\]\|\[crit\]\|\[emerg\]' /var/log/nginx/error.log \
    && fail "error.log: $(grep '\[alert\]\|\[crit\]\|\[emerg\]' /var/log/nginx/error.log)" \
    || pass "no alert, crit or emerg in error.log"

kill -QUIT "$nginx_pid"
i=0; while kill -0 "$nginx_pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 "$nginx_pid" 2>/dev/null && fail "nginx still runs" \
    || { pass "nginx stopped"; nginx_pid=; }

# removal: the site and pools go first (README.Debian), the load snippet
# with the package; nginx -t still passes; a purge takes the state
rm -f /etc/nginx/sites-enabled/securechat \
      /etc/nginx/modules-enabled/60-securechat-thread-pools.conf
DEBIAN_FRONTEND=noninteractive apt-get remove -y -q libnginx-mod-http-securechat \
    > "$work/remove.log" 2>&1 && pass "apt-get remove" || fail "apt-get remove"
[ -e $link ] && fail "$link after remove" || pass "the load snippet is disabled"
nginx -t > "$work/t2.log" 2>&1 && pass "nginx -t after remove" \
    || fail "nginx -t after remove: $(cat "$work/t2.log")"
[ -s $state/users ] && pass "remove keeps $state" || fail "remove lost $state"
DEBIAN_FRONTEND=noninteractive apt-get purge -y -q libnginx-mod-http-securechat \
    > "$work/purge.log" 2>&1 && pass "apt-get purge" || fail "apt-get purge"
[ -e $state ] && fail "$state after purge" || pass "purge removes $state"
