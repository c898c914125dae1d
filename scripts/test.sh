#!/usr/bin/env bash
# Every test and check: formatting, lints, unit and snapshot tests, the end-to-end tests
# against moto and a real OTLP collector (rotel), and the benchmarks in test mode.
# Installs what it needs (a Python venv with moto and rotel; openssl for test certificates).
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v openssl >/dev/null 2>&1; then
  echo "== installing openssl (test certificates)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends openssl;
  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends openssl; fi
fi

echo "== test venv (moto, rotel)"
bash testing/setup-venv.sh

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo test (unit, snapshots, end to end, benches once)"
# CI=true makes insta fail on a missing or changed snapshot instead of writing it.
CI="${CI:-true}" cargo test --locked --all-targets
