#!/bin/sh
#
# End-to-end checks of securechat-passwd: exit codes, file mode, in-place
# replacement, -g output, -c.  When python3 is present, also checks that a
# written hash verifies with an scrypt implementation other than ours.
#
# usage: sh t/unit/test_tool.sh PATH_TO_securechat-passwd WORK_DIR

set -u

tool=$1
work=$2

pass=0
fail=0

ok() {
    pass=$((pass + 1))
}

not_ok() {
    fail=$((fail + 1))
    echo "not ok: $*" >&2
}

# expect CODE DESCRIPTION -- command...
expect() {
    want=$1
    what=$2
    shift 3
    "$@" >"$work/out" 2>"$work/err"
    got=$?

    if [ "$got" -eq "$want" ]; then
        ok
    else
        not_ok "$what: exit $got, want $want; stderr: $(cat "$work/err")"
    fi
}

rm -rf "$work"
mkdir -p "$work"
f=$work/users

# add, with the file created 0600 whatever the umask
umask 022
echo 'first pw' > "$work/pw"
expect 0 "add alice" -- sh -c "'$tool' -l 10 '$f' alice < '$work/pw'"
[ "$(stat -c %a "$f")" = 600 ] && ok || not_ok "mode $(stat -c %a "$f")"
grep -Eq '^alice:\$scrypt\$ln=10,r=8,p=1\$[A-Za-z0-9_-]{22}\$[A-Za-z0-9_-]{43}$' \
    "$f" && ok || not_ok "alice line: $(cat "$f")"
[ ! -s "$work/out" ] && ok || not_ok "stdout not empty without -g"

# -g prints "USERNAME: PASSWORD" once, 16 base64url characters
expect 0 "add bob -g" -- "$tool" -l 10 -g "$f" bob
grep -Eq '^bob: [A-Za-z0-9_-]{16}$' "$work/out" && ok \
    || not_ok "-g output: $(cat "$work/out")"
[ "$(wc -l < "$work/out")" -eq 1 ] && ok || not_ok "-g printed more lines"

# replace in place, keeping other lines and their order
old_alice=$(grep '^alice:' "$f")
printf '%s\n' 'second pw' > "$work/pw"
expect 0 "replace alice" -- sh -c "'$tool' -l 10 '$f' alice < '$work/pw'"
[ "$(grep -c '^alice:' "$f")" -eq 1 ] && ok || not_ok "alice duplicated"
[ "$(grep '^alice:' "$f")" != "$old_alice" ] && ok || not_ok "not replaced"
[ "$(sed -n 1p "$f" | cut -d: -f1)" = alice ] && ok || not_ok "order lost"
[ "$(wc -l < "$f")" -eq 2 ] && ok || not_ok "line count $(wc -l < "$f")"
ls -a "$work" | grep -q '^\.users\.' && not_ok "temp file left" || ok

expect 0 "check" -- "$tool" -c "$f"

# refusals: usage (1)
expect 1 "no args" -- "$tool"
expect 1 "one arg" -- "$tool" "$f"
expect 1 "bad option" -- "$tool" -x "$f" alice
expect 1 "ln 9" -- sh -c "echo pw | '$tool' -l 9 '$f' carol"
expect 1 "ln 23" -- sh -c "echo pw | '$tool' -l 23 '$f' carol"
expect 1 "ln junk" -- sh -c "echo pw | '$tool' -l 1o '$f' carol"
expect 1 "bad name" -- sh -c "echo pw | '$tool' -l 10 '$f' 'car ol'"
expect 1 "name with colon" -- sh -c "echo pw | '$tool' -l 10 '$f' 'a:b'"
expect 1 "empty name" -- sh -c "echo pw | '$tool' -l 10 '$f' ''"

# refusals: errors (2), file untouched
before=$(cat "$f")
expect 2 "empty password" -- sh -c "printf '' | '$tool' -l 10 '$f' carol"
expect 2 "empty line" -- sh -c "echo | '$tool' -l 10 '$f' carol"
head -c 1025 /dev/zero | tr '\0' x > "$work/long"
expect 2 "1025 bytes" -- sh -c "'$tool' -l 10 '$f' carol < '$work/long'"
head -c 1024 /dev/zero | tr '\0' x > "$work/long"
expect 2 "NUL byte" -- sh -c "printf 'a\\000b\\n' | '$tool' -l 10 '$f' carol"
expect 2 "missing dir" -- sh -c "echo pw | '$tool' -l 10 '$work/no/such' carol"
[ "$(cat "$f")" = "$before" ] && ok || not_ok "file changed by a refusal"

# 1024 bytes is the limit, not over it
expect 0 "1024 bytes" -- sh -c "'$tool' -l 10 '$f' carol < '$work/long'"

# -c: comments and empty lines pass, anything else fails
printf '# users\n\n' > "$work/c1"
cat "$f" >> "$work/c1"
expect 0 "check with comments" -- "$tool" -c "$work/c1"
sed 's/$/\r/' "$f" > "$work/crlf"
expect 0 "check CRLF" -- "$tool" -c "$work/crlf"
printf ' \n' > "$work/blank"
expect 2 "check blank line with a space" -- "$tool" -c "$work/blank"
printf 'alice:plain\n' > "$work/c2"
expect 2 "check bad line" -- "$tool" -c "$work/c2"
grep "$(printf '^alice:')" "$f" > "$work/c3"
grep "$(printf '^alice:')" "$f" >> "$work/c3"
expect 2 "check duplicate" -- "$tool" -c "$work/c3"
expect 2 "check missing file" -- "$tool" -c "$work/none"
expect 1 "check no file arg" -- "$tool" -c

# an existing file keeps its mode
chmod 640 "$f"
expect 0 "replace bob" -- sh -c "echo x | '$tool' -l 10 '$f' bob"
[ "$(stat -c %a "$f")" = 640 ] && ok || not_ok "mode not kept"

# the written hash verifies with Python's scrypt (when present)
if command -v python3 >/dev/null 2>&1 \
   && python3 -c 'import hashlib; hashlib.scrypt' 2>/dev/null
then
    expect 0 "add dave -g" -- "$tool" -l 10 -g "$f" dave
    dave_pw=$(sed 's/^dave: //' "$work/out")
    line=$(grep '^dave:' "$f")

    python3 - "$line" "$dave_pw" <<'EOF'
import base64, hashlib, hmac, re, sys
line, pw = sys.argv[1], sys.argv[2]
m = re.fullmatch(r'dave:\$scrypt\$ln=(\d+),r=(\d+),p=(\d+)\$([^$]+)\$([^$]+)',
                 line)
ln, r, p = int(m[1]), int(m[2]), int(m[3])
d = lambda s: base64.urlsafe_b64decode(s + '=' * (-len(s) % 4))
dk = hashlib.scrypt(pw.encode(), salt=d(m[4]), n=1 << ln, r=r, p=p, dklen=32)
sys.exit(0 if hmac.compare_digest(dk, d(m[5])) else 1)
EOF
    [ $? -eq 0 ] && ok || not_ok "python3 scrypt does not verify dave"
fi

echo "tool: $pass passed, $fail failed"

[ "$fail" -eq 0 ]
