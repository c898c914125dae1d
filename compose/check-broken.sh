#!/usr/bin/env bash
# Proves compose/check.sh rejects broken copies of docker-compose.yml. Exits 0 only if every
# broken copy was caught (and the real file passes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0

bash "$here/check.sh" "$root/docker-compose.yml" >/dev/null

# name | sed expression applied to docker-compose.yml | text the error must contain
cases=(
  "undefined-depends-on|s/^      otel-collector:\$/      otel-colector:/|otel-colector"
  "wrong-type|s/^    mem_limit: 512m\$/    mem_limit: [512m]/|mem_limit"
  "unknown-key|s/^    restart: unless-stopped\$/    restart: unless-stopped\n    restrat: always/|restrat"
  # The bridge on a read-only root filesystem (compose/check-bridge.py).
  "bridge-writable-root|s/^    read_only: true\$/    read_only: false/|read_only is not true"
  "bridge-state-off-volume|s#^      - bridge-state:/var/lib/pipeline-otel-bridge\$#      - bridge-state:/var/lib/bridge-data#|is on no volume"
  "bridge-writable-mount|s#^\(      - ./compose/bridge.toml:/etc/pipeline-otel-bridge/config.toml\):ro\$#\\1#|writable bind mount"
)

for case in "${cases[@]}"; do
  IFS='|' read -r name expr expected <<<"$case"
  mkdir -p "$tmp/$name"
  sed "$expr" "$root/docker-compose.yml" >"$tmp/$name/docker-compose.yml"
  if cmp -s "$root/docker-compose.yml" "$tmp/$name/docker-compose.yml"; then
    echo "BAD CASE: $name did not change the file"; failures=$((failures + 1)); continue
  fi
  if bash "$here/check.sh" "$tmp/$name/docker-compose.yml" >"$tmp/$name.out" 2>&1; then
    echo "NOT CAUGHT: $name"; failures=$((failures + 1))
  elif ! grep -q -- "$expected" "$tmp/$name.out"; then
    echo "WRONG REASON: $name (expected '$expected')"; cat "$tmp/$name.out"; failures=$((failures + 1))
  else
    echo "caught: $name -> $(grep -- "$expected" "$tmp/$name.out" | head -n1)"
  fi
done

if [ "$failures" -ne 0 ]; then
  echo "compose/check-broken: $failures broken file(s) not caught"; exit 1
fi
echo "compose/check-broken: every broken file was caught"
