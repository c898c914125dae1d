#!/usr/bin/env bash
# Create a throwaway CA and a server certificate for localhost/127.0.0.1 signed
# by it, for TLS tests (testing/tls_proxy.py in front of rotel):
#
#   testing/make-test-certs.sh DIR   ->  DIR/ca.pem DIR/server.pem DIR/server-key.pem
#
# The SANs matter: rustls (tonic, reqwest) ignores the CN and checks only
# subjectAltName, and an IP address must be an IP SAN, not a DNS one.
# The leaf is a v3 end-entity cert (CA:FALSE, serverAuth) because webpki
# rejects a CA certificate used as a server certificate.
set -euo pipefail

dir="${1:?usage: $0 DIR}"
command -v openssl >/dev/null || { echo "make-test-certs: openssl not found" >&2; exit 1; }
mkdir -p "$dir"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT

# EC P-256: fast to generate, and supported by every TLS stack we test with.
openssl req -x509 -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$tmp/ca-key.pem" -out "$dir/ca.pem" -days 30 \
    -subj "/CN=pipeline-otel-bridge test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

openssl req -new -nodes -newkey ec -pkeyopt ec_paramgen_curve:P-256 \
    -keyout "$dir/server-key.pem" -out "$tmp/server.csr" -subj "/CN=localhost" 2>/dev/null

cat >"$tmp/ext.cnf" <<'CNF'
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
CNF
openssl x509 -req -in "$tmp/server.csr" -CA "$dir/ca.pem" -CAkey "$tmp/ca-key.pem" \
    -CAserial "$tmp/ca.srl" -CAcreateserial -out "$dir/server.pem" -days 30 -extfile "$tmp/ext.cnf" 2>/dev/null

# The key is a throwaway, but keep it private anyway.
chmod 600 "$dir/server-key.pem"
echo "make-test-certs: wrote $dir/ca.pem $dir/server.pem $dir/server-key.pem" >&2
