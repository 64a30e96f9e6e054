#!/bin/bash
# Keys, secrets and users files for the test suite, good and deliberately
# bad ones.  Key ids are computed here with the openssl CLI, independently
# of the module, so the tests can check what /api/ reports.
set -euo pipefail

dir=${1:?usage: make-fixtures.sh DIR PASSWD_TOOL}
passwd_tool=$(realpath "${2:?usage: make-fixtures.sh DIR PASSWD_TOOL}")

umask 077
rm -rf "$dir"
mkdir -p "$dir"
cd "$dir"

key_id() {
    openssl pkey -in "$1" -pubout -outform DER \
        | openssl dgst -sha256 -binary | base64 -w0 | tr '+/' '-_' | tr -d '='
}

openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem \
    2>/dev/null
openssl genpkey -algorithm ED25519 -out ed25519.pem
key_id rsa.pem > rsa.keyid
key_id ed25519.pem > ed25519.keyid

# keys the module must refuse
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:1024 \
    -out rsa1024.pem 2>/dev/null
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec.pem
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -aes-256-cbc -pass pass:secret -out encrypted.pem 2>/dev/null
cat rsa.pem ed25519.pem > two-keys.pem
openssl pkey -in rsa.pem -pubout -out public-only.pem
echo "this is not a key" > garbage.pem
cp rsa.pem group-readable.pem
chmod 640 group-readable.pem

# client public keys sent at login: good ones and every kind of bad one
client() {   # name, genpkey arguments...
    local name=$1; shift
    openssl genpkey "$@" -out "client-$name.key" 2>/dev/null
    openssl pkey -in "client-$name.key" -pubout -out "client-$name.pub"
}
client rsa2048 -algorithm RSA -pkeyopt rsa_keygen_bits:2048
client rsa4096 -algorithm RSA -pkeyopt rsa_keygen_bits:4096
client rsa1024 -algorithm RSA -pkeyopt rsa_keygen_bits:1024
client rsa-e3 -algorithm RSA -pkeyopt rsa_keygen_bits:2048 \
    -pkeyopt rsa_keygen_pubexp:3
client rsa-pss -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048
client ec -algorithm EC -pkeyopt ec_paramgen_curve:P-256
client ed25519 -algorithm ED25519
openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 \
    -out dsa.param 2>/dev/null
openssl genpkey -paramfile dsa.param -out client-dsa.key
openssl pkey -in client-dsa.key -pubout -out client-dsa.pub
key_id client-rsa2048.key > client-rsa2048.keyid
key_id client-rsa4096.key > client-rsa4096.keyid
cat client-rsa2048.pub client-rsa4096.pub > client-two.pub
head -c 200 client-rsa2048.pub > client-truncated.pub
{ cat client-rsa2048.pub; echo "trailing"; } > client-trailing.pub
openssl rsa -in client-rsa2048.key -RSAPublicKey_out \
    -out client-pkcs1.pub 2>/dev/null

# a self-signed certificate for the TLS tests
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
    -subj /CN=localhost -days 3650 -keyout tls.key -out tls.crt 2>/dev/null

openssl rand -hex 32 > secret
openssl rand -hex 8 > short-secret
cp secret open-secret
chmod 644 open-secret

# ln=10 keeps the suite fast; the default cost is covered by unit tests
printf 'alice-password\n' | "$passwd_tool" -l 10 users alice >/dev/null
printf 'bob-password\n' | "$passwd_tool" -l 10 users bob >/dev/null

# a deliberately slow hash (ln=17: 128 MiB, a good fraction of a second)
cp users users-slow
printf 'carol-password\n' | "$passwd_tool" -l 17 users-slow carol >/dev/null

# four users, for the rooms' limits and moderation
cp users users-four
printf 'carol-password\n' | "$passwd_tool" -l 10 users-four carol >/dev/null
printf 'dave-password\n' | "$passwd_tool" -l 10 users-four dave >/dev/null

printf '# nobody here\n\n' > users-empty
printf 'carol:not-a-hash\n' > users-bad
cat users users > users-dup
cp users users-open
chmod 644 users-open

chmod 600 rsa.pem ed25519.pem rsa1024.pem ec.pem encrypted.pem two-keys.pem \
    public-only.pem garbage.pem secret short-secret users users-empty \
    users-bad users-dup users-slow users-four
