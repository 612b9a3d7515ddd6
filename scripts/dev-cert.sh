#!/usr/bin/env bash
# A self-signed TLS certificate for local development of the gateway (never for a real operation).
#
#   scripts/dev-cert.sh                  # writes var/tls/dev-cert.pem and var/tls/dev-key.pem
#   TELESURGERY_TLS_DIR=/tmp/tls scripts/dev-cert.sh
#
# Idempotent: if both files exist it prints their paths and changes nothing (delete them to make
# a new pair). The certificate is valid for DNS:localhost, IP:127.0.0.1 and IP:::1, ECDSA P-256,
# 397 days. The key is written 0600 and the directory gets a .gitignore so neither is committed.
# Browsers will warn (self-signed): trust var/tls/dev-cert.pem in the browser or OS store, or
# accept the warning once.
#
# Real certificates: obtain a certificate for the gateway's host name from the hospital's or a
# public CA (e.g. ACME/Let's Encrypt) and pass the PEM files to the gateway:
#   --tls-cert /etc/telesurgery/tls/fullchain.pem   # leaf certificate followed by intermediates
#   --tls-key  /etc/telesurgery/tls/privkey.pem     # private key, mode 0600, owned by the service
# The files are read at start-up by telesurgery.operation.tls.server_ssl_context (TLS >= 1.2);
# after renewal, restart the gateway.
set -euo pipefail
cd "$(dirname "$0")/.."

dir="${TELESURGERY_TLS_DIR:-var/tls}"
cert="$dir/dev-cert.pem"
key="$dir/dev-key.pem"

if [[ -s "$cert" && -s "$key" ]]; then
    echo "dev certificate exists: $cert (key $key)"
    exit 0
fi

command -v openssl >/dev/null || { echo "dev-cert.sh: openssl not found (apt-get install openssl)" >&2; exit 1; }
mkdir -p "$dir"
[[ -e "$dir/.gitignore" ]] || printf '*\n' > "$dir/.gitignore"
umask 077
tmp="$(mktemp -d "$dir/.dev-cert.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

openssl req -x509 -new -nodes \
    -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -days 397 \
    -subj "/CN=localhost/O=Telesurgery development" \
    -addext "subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1" \
    -addext "basicConstraints=critical,CA:FALSE" \
    -addext "keyUsage=critical,digitalSignature" \
    -addext "extendedKeyUsage=serverAuth" \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" 2>/dev/null

chmod 0600 "$tmp/key.pem"
chmod 0644 "$tmp/cert.pem"
mv "$tmp/key.pem" "$key"
mv "$tmp/cert.pem" "$cert"
echo "wrote $cert and $key (localhost, 127.0.0.1, ::1; 397 days)"
