#!/bin/bash
# Prepares the state directory `make run` uses: a server signing key, a
# session secret and a users file with one demo user, whose password is
# left in demo-password (mode 0600) for `make run` to show.  Anything already
# there is kept, so a second run has the same key and the same users.
set -euo pipefail

state=${1:?usage: make-state.sh STATE_DIR PASSWD_TOOL}
passwd_tool=${2:?usage: make-state.sh STATE_DIR PASSWD_TOOL}

umask 077
mkdir -p "$state" "$state/logs" "$state/tmp"

if [ ! -s "$state/signing-key.pem" ]; then
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
        -out "$state/signing-key.pem" 2>/dev/null
    echo "state: new RSA-2048 signing key in $state/signing-key.pem"
fi

if [ ! -s "$state/session-secret" ]; then
    openssl rand -hex 32 > "$state/session-secret"
    echo "state: new session secret in $state/session-secret"
fi

# the password goes to a file that `make run` shows, last, and removes
if [ ! -s "$state/users" ]; then
    "$passwd_tool" -g "$state/users" demo > "$state/demo-password"
    echo "state: a demo user, demo; make run shows its password once"
fi

chmod 600 "$state/signing-key.pem" "$state/session-secret" "$state/users"
