#!/bin/sh
# `make run PORT=...` serves on that port and shows the demo password last,
# framed, just before nginx starts; `make password` makes a new one that
# `make reload` brings in; `make stop` ends `make run`.  All in a state
# directory of its own, on the loopback.
#
#   sh t/unit/test_run.sh PORT WORK_DIR      (from the project root)
set -u

port=${1:?usage: test_run.sh PORT WORK_DIR}
work=${2:?usage: test_run.sh PORT WORK_DIR}
rm -rf "$work"
mkdir -p "$work"
state=$(cd "$work" && pwd)/state
fails=0
run_pid=

fail() { echo "not ok - $*"; fails=$((fails + 1)); }
pass() { echo "ok - $*"; }
finish() {
    if [ -n "$run_pid" ] && kill -0 "$run_pid" 2>/dev/null; then
        make -s --no-print-directory stop STATE="$state" >/dev/null 2>&1
        sleep 1; kill "$run_pid" 2>/dev/null
    fi
    if [ $fails -eq 0 ]; then echo "test_run: all passed"; exit 0; fi
    echo "test_run: $fails failed"; tail -n 30 "$work/run.log"
    exit 1
}
trap finish EXIT

# http METHOD PATH [JSON]: prints the status code, then the body
http() {
    perl -MIO::Socket::INET -e '
        my ($port, $method, $path, $body) = @ARGV;
        my $s = IO::Socket::INET->new(PeerAddr => "127.0.0.1:$port",
                                      Timeout => 10) or exit 1;
        $body //= "";
        print $s "$method $path HTTP/1.0\r\nHost: localhost:$port\r\n"
            . "Origin: http://localhost:$port\r\n"
            . "Content-Type: application/json\r\n"
            . "Content-Length: " . length($body) . "\r\n\r\n$body";
        local $/; my $r = <$s> // exit 1;
        my ($code) = $r =~ m{^HTTP/1\.\d (\d+)} or exit 1;
        my ($b) = $r =~ /\r\n\r\n(.*)/s;
        print "$code\n", $b // "";
    ' "$port" "$@"
}

# wait_for SECONDS COMMAND...: until the command succeeds
wait_for() {
    n=$(($1 * 5)); shift
    while [ $n -gt 0 ]; do
        "$@" && return 0
        sleep 0.2; n=$((n - 1))
    done
    return 1
}
serving() { http GET /api/ 2>/dev/null | head -1 | grep -q '^200$'; }
login_code() {
    http POST /api/login "{\"username\":\"demo\",\"password\":\"$1\"}" \
        | head -1
}

make -s --no-print-directory run PORT="$port" STATE="$state" > "$work/run.log" 2>&1 &
run_pid=$!

if wait_for 120 serving; then
    pass "make run PORT=$port serves on $port"
else
    fail "nothing answers on $port"; exit
fi

# the frame with the password, and after it only the line naming the URL
pw=$(sed -n 's/^  |  log in as:  demo: \([^ ]*\) *|$/\1/p' "$work/run.log")
if [ -n "$pw" ]; then pass "the demo password is shown framed"
else fail "no framed demo password in the output"; fi
last=$(grep -v '^exec ' "$work/run.log" | grep -v '^$' | tail -n 1)
case $last in
    "securechat: http://localhost:$port/"*) pass "the URL follows the frame" ;;
    *) fail "last line before nginx: $last" ;;
esac
# the frame's lines are the last before the URL
[ "$(grep -v '^exec ' "$work/run.log" | grep -v '^$' | tail -n 6 \
        | head -n 5 | grep -c '^  [|+]')" -eq 5 ] \
    && pass "the frame is at the end of the output" \
    || fail "the frame is not at the end of the output"
[ ! -e "$state/demo-password" ] && pass "the password is not kept" \
    || fail "$state/demo-password is still there"
[ "$(login_code "$pw")" = 200 ] && pass "the shown password logs in" \
    || fail "login with the shown password: $(login_code "$pw")"
# the default access log names the user ($securechat_user); its line is
# written once the answer has gone, so it is looked for a moment
logged=
for i in 1 2 3 4 5 6 7 8 9 10; do
    grep -q ' - demo \[.*"POST /api/login HTTP/1\.[01]" 200 .* room=-$' \
        "$state/logs/access.log" 2>/dev/null && { logged=1; break; }
    sleep 0.2
done
[ -n "$logged" ] && pass "the access log names the user of the login" \
    || fail "no access log line for demo's login: $(tail -n 3 "$state/logs/access.log" 2>&1)"

# a new password, taken by a reload of this nginx
new=$(make -s --no-print-directory password STATE="$state" \
      | sed -n 's/^  |  log in as:  demo: \([^ ]*\) *|$/\1/p')
[ -n "$new" ] && [ "$new" != "$pw" ] && pass "make password shows a new one" \
    || fail "make password showed '$new'"
if make -s --no-print-directory reload STATE="$state" > "$work/reload.log" 2>&1; then
    pass "make reload"
else
    fail "make reload: $(cat "$work/reload.log")"
fi
reloaded() { [ "$(login_code "$new")" = 200 ]; }
wait_for 30 reloaded && pass "after make reload the new password logs in" \
    || fail "after make reload, login with the new password: $(login_code "$new")"
[ "$(login_code "$pw")" = 401 ] && pass "the old password no longer does" \
    || fail "the old password: $(login_code "$pw")"
grep -q "listen.*$port;" "$state/securechat.conf" \
    && pass "make reload kept the port of make run" \
    || fail "make reload changed the port"

# stop ends make run, with success
if make -s --no-print-directory stop STATE="$state" > "$work/stop.log" 2>&1; then
    pass "make stop"
else
    fail "make stop: $(cat "$work/stop.log")"
fi
gone() { ! kill -0 "$run_pid" 2>/dev/null; }
if wait_for 30 gone; then
    wait "$run_pid"; rc=$?
    [ $rc -eq 0 ] && pass "make run exits 0 after make stop" \
        || fail "make run exited $rc"
    run_pid=
else
    fail "make run still runs 30 s after make stop"
fi
serving && fail "still serving after make stop" || pass "nothing serves"
