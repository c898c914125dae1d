#!/usr/bin/env bash
# Proves that check.sh catches broken collector configs: makes broken copies of otelcol.yaml
# and expects check.sh to fail on each, for the right reason.
# Exits 0 only if every broken copy was caught (and the unbroken config passes).
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
failures=0

# name | python expression that breaks the parsed config `c` | message check.py must print
cases=(
  "undefined-exporter|c['service']['pipelines']['traces']['exporters'].append('otlp_grpc/nowhere')|\`otlp_grpc/nowhere\` is not defined under \`exporters\`"
  "memory-limiter-not-first|c['service']['pipelines']['metrics']['processors'] = ['batch', 'memory_limiter']|\`memory_limiter\` must come first"
  "no-batch|c['service']['pipelines']['traces']['processors'] = ['memory_limiter']|\`batch\` is missing"
  "undefined-extension|c['service']['extensions'].append('pprof')|\`pprof\` is not defined under \`extensions\`"
  "unknown-type|c['exporters']['tempoo'] = {}|unknown exporter type \`tempoo\`"
  "no-receiver|c['service']['pipelines']['metrics']['receivers'] = []|needs at least one entry in \`receivers\`"
)

# The same interpreter choice as check.sh (it needs PyYAML to write the copies too).
if [ -z "${PYTHON:-}" ]; then
  if python3 -c 'import yaml' >/dev/null 2>&1; then PYTHON=python3
  else PYTHON="$(bash "$(dirname "$here")/testing/setup-venv.sh")/bin/python"; fi
fi
export PYTHON

if ! bash "$here/check.sh" "$here/otelcol.yaml" >"$tmp/good.out" 2>&1; then
  echo "FAIL: the unbroken otelcol.yaml does not pass:"; cat "$tmp/good.out"; exit 1
fi

for case in "${cases[@]}"; do
  IFS='|' read -r name expr expected <<<"$case"
  broken="$tmp/$name.yaml"
  "$PYTHON" - "$here/otelcol.yaml" "$broken" "$expr" <<'PY'
import sys, yaml
src, dst, expr = sys.argv[1:4]
c = yaml.safe_load(open(src))
exec(expr)
yaml.safe_dump(c, open(dst, "w"), sort_keys=False)
PY
  if bash "$here/check.sh" "$broken" >"$tmp/$name.out" 2>&1; then
    echo "NOT CAUGHT: $name (check.sh exited 0)"; cat "$tmp/$name.out"; failures=$((failures + 1))
  elif ! grep -qF -- "$expected" "$tmp/$name.out"; then
    echo "WRONG REASON: $name (expected: $expected)"; cat "$tmp/$name.out"; failures=$((failures + 1))
  else
    echo "caught: $name -> $(grep -F -- "$expected" "$tmp/$name.out" | head -n1)"
  fi
done

# Duplicate keys are invisible once parsed, so that copy is made textually.
sed 's/^processors:$/processors:\n  batch: {}/' "$here/otelcol.yaml" >"$tmp/duplicate-key.yaml"
if bash "$here/check.sh" "$tmp/duplicate-key.yaml" >"$tmp/dup.out" 2>&1 || ! grep -q "duplicate key 'batch'" "$tmp/dup.out"; then
  echo "NOT CAUGHT: duplicate-key"; cat "$tmp/dup.out"; failures=$((failures + 1))
else
  echo "caught: duplicate-key -> $(grep "duplicate key" "$tmp/dup.out" | head -n1)"
fi

if [ "$failures" -ne 0 ]; then
  echo "check-broken: $failures broken config(s) not caught"; exit 1
fi
echo "check-broken: every broken config was caught"
